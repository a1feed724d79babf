// (a) of the overhead ratio: the same recovery with no Temporal. The very activity functions the
// worker registers (createActivities with the same hosts and profiles), called directly on the
// workflow's critical-path schedule (binaries beside the storage, builds that need no primary
// beside it, the standby and the replicas side by side) so the ratio measures orchestration, not
// parallelism. Also the plain script the fan-out is measured against (the same clones in parallel).
// No retries, no heartbeats, no history: a step that fails fails the run.
import { createActivities } from '../activities/index.js';
import { hostFor } from '../lib/hosts/index.js';
import type { StepName, StepRecord, StepResult } from '../lib/model/report.js';
import { buildNeedsPrimary, nodesOf, primaryOf, sharedNodes, type ClusterSpec } from '../lib/model/spec.js';

const activities = createActivities({ hostFor });

export interface RawRun {
  startedAt: number;
  endedAt: number;
  wallMs: number;
  steps: StepRecord[];
}

/** `serial`: no concurrency at all (every node one after the other), for comparison only. */
export async function recoverRaw(spec: ClusterSpec, probeId: string, serial = false): Promise<RawRun> {
  const A = activities;
  const steps: StepRecord[] = [];
  const step = async (name: StepName, node: string | undefined, fn: () => Promise<StepResult>): Promise<StepResult> => {
    const t0 = Date.now();
    const r = await fn();
    const t1 = Date.now();
    steps.push({
      id: node ? `${name}:${node}` : name,
      step: name,
      node,
      state: 'done',
      startedAt: new Date(t0).toISOString(),
      endedAt: new Date(t1).toISOString(),
      durationMs: t1 - t0,
      changed: r.changed,
      commands: r.commands,
      skipped: r.skipped,
      verified: r.verified,
    });
    return r;
  };
  const each = async <T>(nodes: { name: string }[], fn: (name: string) => Promise<T>): Promise<T[]> => {
    if (!serial) return Promise.all(nodes.map((n) => fn(n.name)));
    const out: T[] = [];
    for (const n of nodes) out.push(await fn(n.name));
    return out;
  };
  const primary = primaryOf(spec);
  const shared = sharedNodes(spec);
  const event = { cluster: spec.cluster, workflowId: probeId };

  const slots = async () => {
    const r = await step('validateSlots', undefined, () => A.validateSlots(spec, spec.slots.onMissing === 'create'));
    const missing = (r.details?.missing as string[] | undefined) ?? [];
    if (missing.length) throw new Error(`slots missing: ${missing.join(', ')}`);
  };
  const startAndStream = async (n: string) => {
    await step('startNode', n, () => A.startNode(spec, n));
    await step('waitStreaming', n, () => A.waitStreaming(spec, n));
  };

  const startedAt = Date.now();
  void A.notifyOperators({ ...event, kind: 'started', text: 'recovery started' }); // as the workflow: not awaited
  const fence = await step('fence', undefined, () => A.fence(spec));
  if (!fence.details?.proven) throw new Error(`fence not proven: ${(fence.details?.evidence as string[]).join('; ')}`);

  let primaryStart: StepResult;
  if (serial) {
    await step('attachStorage', primary.name, () => A.attachStorage(spec, primary.name, 'shared'));
    await each(shared.slice(1), (n) => step('attachStorage', n, () => A.attachStorage(spec, n, 'shared')));
    await each(shared, (n) => step('startStorageDaemon', n, () => A.startStorageDaemon(spec, n, 'shared')));
    await each(spec.nodes, (n) => step('prepareBinaries', n, () => A.prepareBinaries(spec, n)));
    await step('buildNode', primary.name, () => A.buildNode(spec, primary.name));
    primaryStart = await step('startNode', primary.name, () => A.startNode(spec, primary.name));
    await slots();
    for (const n of nodesOf(spec, 'standby')) {
      await step('attachStorage', n.name, () => A.attachStorage(spec, n.name, 'own'));
      await step('startStorageDaemon', n.name, () => A.startStorageDaemon(spec, n.name, 'own'));
      await step('buildNode', n.name, () => A.buildNode(spec, n.name));
      await startAndStream(n.name);
    }
    for (const n of nodesOf(spec, 'replica')) {
      await step('buildNode', n.name, () => A.buildNode(spec, n.name));
      await startAndStream(n.name);
    }
  } else {
    // The workflow's critical-path schedule (workflows/recover-cluster.ts, criticalPath).
    const later = <T>(p: Promise<T>) => (p.catch(() => {}), p);
    const binaries = new Map(
      spec.nodes.map((n) => [n.name, later(step('prepareBinaries', n.name, () => A.prepareBinaries(spec, n.name)))]),
    );
    const bound = later(step('attachStorage', primary.name, () => A.attachStorage(spec, primary.name, 'shared')));
    const storage = new Map<string, Promise<unknown>>();
    for (const n of shared)
      storage.set(
        n.name,
        later(
          (async () => {
            await bound;
            if (n.name !== primary.name) await step('attachStorage', n.name, () => A.attachStorage(spec, n.name, 'shared'));
            await step('startStorageDaemon', n.name, () => A.startStorageDaemon(spec, n.name, 'shared'));
          })(),
        ),
      );
    for (const n of nodesOf(spec, 'standby'))
      storage.set(
        n.name,
        later(
          (async () => {
            await bound;
            await step('attachStorage', n.name, () => A.attachStorage(spec, n.name, 'own'));
            await step('startStorageDaemon', n.name, () => A.startStorageDaemon(spec, n.name, 'own'));
          })(),
        ),
      );
    const build = async (n: string) => {
      await storage.get(n);
      await binaries.get(n);
      return step('buildNode', n, () => A.buildNode(spec, n));
    };
    const early = new Map(
      spec.nodes.filter((n) => n.role !== 'primary' && !buildNeedsPrimary(spec, n)).map((n) => [n.name, later(build(n.name))]),
    );
    await build(primary.name);
    primaryStart = await step('startNode', primary.name, () => A.startNode(spec, primary.name));
    await slots();
    await Promise.all([
      ...nodesOf(spec, 'standby').map(async (n) => {
        await (early.get(n.name) ?? build(n.name));
        await startAndStream(n.name);
      }),
      ...nodesOf(spec, 'replica').map(async (n) => {
        if (early.has(n.name)) await early.get(n.name);
        else {
          await Promise.all([storage.get(n.name), binaries.get(n.name)]);
          await step('buildNode', n.name, () => A.buildNode(spec, n.name));
        }
        await startAndStream(n.name);
      }),
      ...binaries.values(),
      ...storage.values(),
    ]);
  }

  await step('verifyData', undefined, () => A.verifyData(spec, probeId, primaryStart.changed));
  const endedAt = Date.now();
  await A.notifyOperators({ ...event, kind: 'succeeded', text: 'recovered' });
  return { startedAt, endedAt, wallMs: Date.now() - startedAt, steps };
}
