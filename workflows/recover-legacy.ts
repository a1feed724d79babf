// recoverCluster as it ran before its steps were declared (lib/model/steps.ts): the recoveries
// started before the `step-model` patch replay these commands, in this order. Nothing new runs
// here; delete it once no such recovery can be in flight (deprecatePatch('step-model') then).
import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { RecoverInput } from '../lib/model/input.js';
import type { Outcome, RecoveryReport, StepOutcome } from '../lib/model/report.js';
import { buildNeedsPrimary, nodesOf, primaryOf, sharedNodes, type ClusterSpec } from '../lib/model/spec.js';
import { long, quick } from './options.js';
import { at, type Recorder } from './recorder.js';
import { replicaChild } from './replica-child.js';
import type { Gate } from './runbook.js';

export async function legacyRunbook(spec: ClusterSpec, input: RecoverInput, rec: Recorder, gate: Gate): Promise<RecoveryReport> {
  const primary = primaryOf(spec);

  // Never beside a failover of the cluster (which refuses to run beside a recovery in turn).
  if (patched('refuse-beside-failover')) {
    const { workflowId, runId } = workflowInfo();
    rec.phase('check');
    await rec.step(at('checkRunbooks'), (o) =>
      quick.checkRunbooks.executeWithOptions(o, [spec.cluster, { workflowId, runId }, 'recovery']),
    );
  }

  rec.phase('fence');
  const fence = await rec.step(at('fence'), (o) => quick.fence.executeWithOptions(o, [spec]));
  if (!fence.details.proven) {
    const evidence = fence.details.evidence;
    if (spec.fencing.onUnprovable === 'fail')
      throw ApplicationFailure.nonRetryable(`cannot prove the old primary is down: ${evidence.join('; ')}`, 'SplitBrainRisk');
    await gate('fence', evidence);
  }

  // Seed steps 1-2: the hosts whose containers are gone are created again. After the fence: a
  // replacement must never start while the old node may still run.
  const provisioned = spec.nodes.filter((n) => n.host.transport === 'docker' && n.host.provision);
  if (provisioned.length && patched('provision-hosts')) {
    rec.phase('provision');
    await each(provisioned, (n) =>
      rec.step(at('provisionHost', n, roleIn(spec, n)), (o) => quick.provisionHost.executeWithOptions(o, [spec, n])),
    );
  }

  // Read-only checks first: a missing disk, a disk given twice, a foreign local dir stop the run
  // before any disk is attached or mounted.
  rec.phase('preflight');
  await rec.step(at('preflight'), (o) => quick.preflight.executeWithOptions(o, [spec]));

  // Each step starts as soon as what it needs is there (recorded histories from before replay the
  // old order, step after step).
  const primaryStart = patched('critical-path') ? await criticalPath(spec, input, rec, gate) : await inOrder(spec, input, rec, gate);

  rec.phase('verify');
  // The fingerprint is compared when this run brought the primary back: it did not answer when the
  // run began (fence looked). startNode's `changed` alone is not enough: a retry after a worker
  // crash mid-start finds the primary the dead worker started already serving, and changes nothing.
  const primaryWasDown = !(fence.details.answering ?? []).includes(primary.name);
  await rec.step(at('verifyData'), (o) =>
    long.verifyData.executeWithOptions(o, [
      spec,
      `${workflowInfo().workflowId}@${workflowInfo().runId}`,
      primaryStart.changed || primaryWasDown,
    ]),
  );

  const endedAt = Date.now();
  const outcome: Outcome = rec.progress.steps.some((s) => s.changed) ? 'recovered' : 'already-healthy';
  rec.phase('done');
  rec.end(outcome);
  return rec.report(outcome, endedAt);
}

const each = <T>(nodes: { name: string }[], fn: (name: string) => Promise<T>) => Promise.all(nodes.map((n) => fn(n.name)));
const roleIn = (spec: ClusterSpec, n: string) => spec.nodes.find((x) => x.name === n)!.role;

/** Slots after the primary serves: the missing ones stop at a gate, then are created. */
async function slotsStep(spec: ClusterSpec, rec: Recorder, gate: Gate): Promise<void> {
  rec.phase('slots');
  const slots = await rec.step(at('validateSlots'), (o) =>
    quick.validateSlots.executeWithOptions(o, [spec, spec.slots.onMissing === 'create']),
  );
  const missing = slots.details.missing;
  if (missing.length) {
    await gate('slots', [`replication slots missing on the primary: ${missing.join(', ')}; approving creates them empty`]);
    await rec.step(at('validateSlots', 'create'), (o) => quick.validateSlots.executeWithOptions(o, [spec, true]));
  }
}

/** The per-node steps both schedules run, each named with its node and role in the Web UI. */
function nodeSteps(spec: ClusterSpec, rec: Recorder) {
  const role = (n: string) => roleIn(spec, n);
  return {
    attach: (n: string, which: 'shared' | 'own') =>
      rec.step(at('attachStorage', n, role(n)), (o) => quick.attachStorage.executeWithOptions(o, [spec, n, which])),
    daemon: (n: string, which: 'shared' | 'own') =>
      rec.step(at('startStorageDaemon', n, role(n)), (o) => quick.startStorageDaemon.executeWithOptions(o, [spec, n, which])),
    binaries: (n: string) => rec.step(at('prepareBinaries', n, role(n)), (o) => quick.prepareBinaries.executeWithOptions(o, [spec, n])),
    build: (n: string) => rec.step(at('buildNode', n, role(n)), (o) => long.buildNode.executeWithOptions(o, [spec, n])),
    start: (n: string) => rec.step(at('startNode', n, role(n)), (o) => long.startNode.executeWithOptions(o, [spec, n])),
    streaming: (n: string) => rec.step(at('waitStreaming', n, role(n)), (o) => long.waitStreaming.executeWithOptions(o, [spec, n])),
  };
}

/** The order before critical-path scheduling: storage, binaries, primary, slots, then the rest. */
async function inOrder(spec: ClusterSpec, input: RecoverInput, rec: Recorder, gate: Gate): Promise<StepOutcome> {
  const primary = primaryOf(spec);
  const shared = sharedNodes(spec);
  const step = nodeSteps(spec, rec);
  rec.phase('storage');
  // The first host binds the disk; hosts sharing the device then find it bound and only link it.
  await step.attach(primary.name, 'shared');
  await each(shared.slice(1), (n) => step.attach(n, 'shared'));
  await each(shared, (n) => step.daemon(n, 'shared'));
  await each(spec.nodes, (n) => step.binaries(n));

  rec.phase('primary');
  await step.build(primary.name);
  const primaryStart = await step.start(primary.name);

  await slotsStep(spec, rec, gate);

  rec.phase('standbys-and-replicas');
  const standbys = each(nodesOf(spec, 'standby'), async (n) => {
    await step.attach(n, 'own');
    await step.daemon(n, 'own');
    await step.build(n);
    await step.start(n);
    await step.streaming(n);
  });
  const replicas = each(nodesOf(spec, 'replica'), (n) => replicaChild(spec, input, rec, n));
  await settleAll([standbys, replicas]);
  return primaryStart;
}

/** Waits for every branch, then fails with the first failure: the report then holds every step of all. */
async function settleAll(branches: Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(branches);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
}

/** Settles later, but a failure meanwhile is not an unhandled rejection (it is awaited later). */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * Critical-path scheduling: every step starts once what it needs is done. Binaries (and their
 * config templates) beside the storage; each host's storage daemon once its own link is there;
 * the standby's own disk and pfsd once the shared disk is bound; a build that does not read from
 * the primary (the profile says: a polardb replica's skeleton comes from PFS; a standby's from its
 * own disk) while the primary builds and starts.
 * Only starts wait for the primary and its slots; a postgres replica's build (a clone) too.
 */
async function criticalPath(spec: ClusterSpec, input: RecoverInput, rec: Recorder, gate: Gate): Promise<StepOutcome> {
  const primary = primaryOf(spec);
  const step = nodeSteps(spec, rec);
  rec.phase('storage');
  const binaries = new Map(spec.nodes.map((n) => [n.name, later(step.binaries(n.name))]));
  // The first host binds the disk; hosts sharing the device then find it bound and only link it.
  const bound = later(step.attach(primary.name, 'shared'));
  // Each host's pfsd once its own link is there: the primary's does not wait for the others' attach.
  // A standby's own disk after the shared one is bound (two `losetup -f` at once may pick the same device).
  const storageReady = new Map<string, Promise<unknown>>();
  const disks = [
    ...sharedNodes(spec).map((n) => ({ n: n.name, which: 'shared' as const })),
    ...nodesOf(spec, 'standby').map((n) => ({ n: n.name, which: 'own' as const })),
  ];
  for (const { n, which } of disks)
    storageReady.set(
      n,
      later(
        (async () => {
          await bound;
          if (n !== primary.name) await step.attach(n, which);
          await step.daemon(n, which);
        })(),
      ),
    );
  const storageOf = (n: string) => storageReady.get(n);
  const build = async (n: string) => {
    await storageOf(n);
    await binaries.get(n);
    return step.build(n);
  };
  const early = new Map(
    spec.nodes.filter((n) => n.role !== 'primary' && !buildNeedsPrimary(spec, n)).map((n) => [n.name, later(build(n.name))]),
  );

  await storageOf(primary.name);
  rec.phase('primary');
  await build(primary.name);
  const primaryStart = await step.start(primary.name);
  await slotsStep(spec, rec, gate);

  rec.phase('standbys-and-replicas');
  const standbys = each(nodesOf(spec, 'standby'), async (n) => {
    if (early.has(n)) await early.get(n);
    else await build(n);
    await step.start(n);
    await step.streaming(n);
  });
  const replicas = each(nodesOf(spec, 'replica'), async (n) => {
    if (early.has(n)) await early.get(n);
    else await Promise.all([storageOf(n), binaries.get(n)]);
    await replicaChild(spec, input, rec, n, early.has(n));
  });
  // Every step started is awaited: binaries of nodes no build waited for included.
  await settleAll([standbys, replicas, ...binaries.values(), ...storageReady.values()]);
  return primaryStart;
}
