// recoverCluster: the runbook. Brings a shared-storage cluster back when every compute host is
// gone and only the storage survives: fence -> attach storage -> storage daemon -> binaries ->
// primary -> slots -> standbys and replicas (in parallel) -> verify -> report.
import { ApplicationFailure, condition, executeChild, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { recoveryWorkflowId, WORKFLOW_TASK_TIMEOUT, type RecoverInput } from '../common/input.js';
import type { RecoveryReport } from '../common/report.js';
import { ClusterName, Trigger } from '../common/search-attributes.js';
import { nodesOf, primaryOf, sharedNodes, type ClusterSpec } from '../common/spec.js';
import { abortSignal, approveSignal, progressQuery } from './definitions.js';
import { long, notifier, quick } from './options.js';
import { Recorder } from './recorder.js';
import { specFrom } from './spec-input.js';
import { rebuildReplica } from './rebuild-replica.js';

export async function recoverCluster(input: RecoverInput): Promise<RecoveryReport> {
  const spec = await specFrom(input);
  const workflowId = workflowInfo().workflowId;
  // One recovery per cluster: only the execution with the cluster's own id may act on it, so a
  // start from the Web UI with another id cannot run beside a recovery already under way.
  if (workflowId !== recoveryWorkflowId(spec.cluster))
    throw ApplicationFailure.nonRetryable(`start this recovery with workflow id ${recoveryWorkflowId(spec.cluster)}`, 'SpecInvalid');
  upsertSearchAttributes([
    { key: ClusterName, value: spec.cluster },
    { key: Trigger, value: input.trigger ?? 'ui' },
  ]);

  // A drill's recovery of its sandbox is not an incident: operators hear of the drill, not of it.
  const tell: Tell = async (kind, text) => {
    if (input.trigger === 'drill') return;
    await notifier
      .notifyOperators({ kind, cluster: spec.cluster, workflowId, text: `[polar-runbook] ${spec.cluster}: ${text}` })
      .catch(() => {});
  };
  void tell('started', `recovery started (trigger: ${input.trigger ?? 'ui'})`); // not awaited: adds no latency
  try {
    const report = await runbook(spec, input, tell);
    await tell('succeeded', `${report.outcome} in ${(report.rtoMs / 1000).toFixed(1)} s`);
    return report;
  } catch (err) {
    await tell('failed', `recovery failed: ${(err as Error).message}`);
    throw err;
  }
}

type Tell = (kind: 'started' | 'waiting-approval' | 'succeeded' | 'failed', text: string) => Promise<void>;

async function runbook(spec: ClusterSpec, input: RecoverInput, tell: Tell): Promise<RecoveryReport> {
  const rec = new Recorder(spec.cluster);
  let approvals = 0;
  setHandler(progressQuery, () => rec.progress);
  setHandler(approveSignal, () => void approvals++);
  setHandler(abortSignal, (a) => void (rec.aborted = a?.reason ?? ''));

  /** Waits for an operator's `approve` (or `abort`); nothing is touched while it waits. */
  const gate = async (name: string, evidence: string[]) => {
    const seen = approvals;
    rec.progress.waitingFor = { gate: name, evidence };
    rec.phase(`waiting-approval:${name}`);
    void tell('waiting-approval', `waiting for approval at ${name}: ${evidence.join('; ')}`);
    await condition(() => approvals > seen || rec.aborted !== undefined);
    rec.progress.waitingFor = undefined;
    if (rec.aborted !== undefined) throw rec.abortFailure();
  };

  const primary = primaryOf(spec);
  const shared = sharedNodes(spec);
  const each = <T>(nodes: { name: string }[], fn: (name: string) => Promise<T>) => Promise.all(nodes.map((n) => fn(n.name)));

  if (input.requireApproval) await gate('start', ['the cluster policy asks for approval before a recovery starts']);

  rec.phase('fence');
  const fence = await rec.step('fence', undefined, () => quick.fence(spec));
  if (!fence.details?.proven) {
    const evidence = fence.details?.evidence as string[];
    if (spec.fencing.onUnprovable === 'fail')
      throw ApplicationFailure.nonRetryable(`cannot prove the old primary is down: ${evidence.join('; ')}`, 'SplitBrainRisk');
    await gate('fence', evidence);
  }

  // Read-only checks first: a missing disk, a disk given twice, a foreign local dir stop the run
  // before any disk is attached or mounted.
  rec.phase('preflight');
  await rec.step('preflight', undefined, () => quick.preflight(spec));

  rec.phase('storage');
  // The first host binds the disk; hosts sharing the device then find it bound and only link it.
  await rec.step('attachStorage', primary.name, () => quick.attachStorage(spec, primary.name, 'shared'));
  await each(shared.slice(1), (n) => rec.step('attachStorage', n, () => quick.attachStorage(spec, n, 'shared')));
  await each(shared, (n) => rec.step('startStorageDaemon', n, () => quick.startStorageDaemon(spec, n, 'shared')));
  await each(spec.nodes, (n) => rec.step('prepareBinaries', n, () => quick.prepareBinaries(spec, n)));

  rec.phase('primary');
  await rec.step('buildNode', primary.name, () => long.buildNode(spec, primary.name));
  const primaryStart = await rec.step('startNode', primary.name, () => long.startNode(spec, primary.name));

  rec.phase('slots');
  const slots = await rec.step('validateSlots', undefined, () => quick.validateSlots(spec, spec.slots.onMissing === 'create'));
  const missing = (slots.details?.missing as string[] | undefined) ?? [];
  if (missing.length) {
    await gate('slots', [`replication slots missing on the primary: ${missing.join(', ')}; approving creates them empty`]);
    await rec.step('validateSlots', 'create', () => quick.validateSlots(spec, true));
  }

  rec.phase('standbys-and-replicas');
  const standbys = each(nodesOf(spec, 'standby'), async (n) => {
    await rec.step('attachStorage', n, () => quick.attachStorage(spec, n, 'own'));
    await rec.step('startStorageDaemon', n, () => quick.startStorageDaemon(spec, n, 'own'));
    await rec.step('buildNode', n, () => long.buildNode(spec, n));
    await rec.step('startNode', n, () => long.startNode(spec, n));
    await rec.step('waitStreaming', n, () => long.waitStreaming(spec, n));
  });
  const replicas = each(nodesOf(spec, 'replica'), async (n) => {
    if (rec.aborted !== undefined) throw rec.abortFailure();
    const steps = await executeChild(rebuildReplica, {
      args: [spec, n],
      workflowId: `${workflowInfo().workflowId}/replica/${n}`,
      workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
    });
    rec.adopt(steps);
  });
  await Promise.all([standbys, replicas]);

  rec.phase('verify');
  // The fingerprint is compared when this run brought the primary back: it did not answer when the
  // run began (fence looked). startNode's `changed` alone is not enough: a retry after a worker
  // crash mid-start finds the primary the dead worker started already serving, and changes nothing.
  const primaryWasDown = !((fence.details?.answering as string[] | undefined) ?? []).includes(primary.name);
  await rec.step('verifyData', undefined, () =>
    long.verifyData(spec, `${workflowInfo().workflowId}@${workflowInfo().runId}`, primaryStart.changed || primaryWasDown),
  );

  rec.phase('done');
  const endedAt = Date.now();
  const changed = rec.progress.steps.some((s) => s.changed);
  return {
    ...rec.progress,
    workflowId: workflowInfo().workflowId,
    outcome: changed ? 'recovered' : 'already-healthy',
    endedAt: new Date(endedAt).toISOString(),
    rtoMs: endedAt - Date.parse(rec.progress.startedAt),
    commandsRun: rec.progress.steps.reduce((a, s) => a + s.commands.length, 0),
  };
}
