// (a) of the overhead ratio: the same recovery with no Temporal. The very activity functions the
// worker registers (createActivities with the same hosts and profiles), called directly in the
// workflow's order, with the workflow's own concurrency (the standby and the replicas side by side,
// prepareBinaries on every node at once) so the ratio measures orchestration, not parallelism.
// No retries, no heartbeats, no history: a step that fails fails the run.
import { createActivities } from '../activities/index.js';
import { hostFor } from '../activities/hosts/index.js';
import { polardbProfile } from '../activities/profiles/polardb.js';
import { postgresProfile } from '../activities/profiles/postgres.js';
import type { StepName, StepRecord, StepResult } from '../common/report.js';
import { nodesOf, primaryOf, sharedNodes, type ClusterSpec } from '../common/spec.js';

const activities = createActivities({ hostFor, profiles: { postgres: postgresProfile, polardb: polardbProfile } });

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

  const startedAt = Date.now();
  void A.notifyOperators({ ...event, kind: 'started', text: 'recovery started' }); // as the workflow: not awaited
  const fence = await step('fence', undefined, () => A.fence(spec));
  if (!fence.details?.proven) throw new Error(`fence not proven: ${(fence.details?.evidence as string[]).join('; ')}`);

  await step('attachStorage', primary.name, () => A.attachStorage(spec, primary.name, 'shared'));
  await each(shared.slice(1), (n) => step('attachStorage', n, () => A.attachStorage(spec, n, 'shared')));
  await each(shared, (n) => step('startStorageDaemon', n, () => A.startStorageDaemon(spec, n, 'shared')));
  await each(spec.nodes, (n) => step('prepareBinaries', n, () => A.prepareBinaries(spec, n)));

  await step('buildNode', primary.name, () => A.buildNode(spec, primary.name));
  const primaryStart = await step('startNode', primary.name, () => A.startNode(spec, primary.name));

  const slots = await step('validateSlots', undefined, () => A.validateSlots(spec, spec.slots.onMissing === 'create'));
  const missing = (slots.details?.missing as string[] | undefined) ?? [];
  if (missing.length) throw new Error(`slots missing: ${missing.join(', ')}`);

  const standbys = () =>
    each(nodesOf(spec, 'standby'), async (n) => {
      await step('attachStorage', n, () => A.attachStorage(spec, n, 'own'));
      await step('startStorageDaemon', n, () => A.startStorageDaemon(spec, n, 'own'));
      await step('buildNode', n, () => A.buildNode(spec, n));
      await step('startNode', n, () => A.startNode(spec, n));
      await step('waitStreaming', n, () => A.waitStreaming(spec, n));
    });
  const replicas = () =>
    each(nodesOf(spec, 'replica'), async (n) => {
      await step('buildNode', n, () => A.buildNode(spec, n));
      await step('startNode', n, () => A.startNode(spec, n));
      await step('waitStreaming', n, () => A.waitStreaming(spec, n));
    });
  if (serial) {
    await standbys();
    await replicas();
  } else await Promise.all([standbys(), replicas()]);

  await step('verifyData', undefined, () => A.verifyData(spec, probeId, primaryStart.changed));
  const endedAt = Date.now();
  await A.notifyOperators({ ...event, kind: 'succeeded', text: 'recovered' });
  return { startedAt, endedAt, wallMs: Date.now() - startedAt, steps };
}
