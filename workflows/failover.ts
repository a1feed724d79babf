// failoverToStandby: the second disaster. The shared storage is lost with the compute hosts' work
// on it; the disaster-recovery standby, on its own disk, takes over: no other runbook acts ->
// fence the old nodes and the old disk -> record the standby's position (the data-loss window) ->
// lag within limits or a person decides -> promote, once -> the new topology's slots -> read-only
// nodes rebuilt on the standby's disk as the new shared disk -> verify -> the new spec, written.
import { ApplicationFailure, executeChild, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { failoverStandby, specAfterFailover } from '../lib/model/failover.js';
import { rootFailure } from '../lib/model/failures.js';
import { failoverWorkflowId, WORKFLOW_TASK_TIMEOUT, type FailoverInput } from '../lib/model/input.js';
import { rpoOf, type FailoverReport, type Outcome, type StandbyPosition, type StepRecord } from '../lib/model/report.js';
import { ClusterName, Outcome as OutcomeAttribute, Trigger } from '../lib/model/search-attributes.js';
import { nodesOf, sharedNodes, SpecError, type ClusterSpec } from '../lib/model/spec.js';
import type { Fingerprint } from '../lib/db.js';
import { long, quick } from './options.js';
import { Recorder } from './recorder.js';
import { gates, inScope, teller, type Gate } from './runbook.js';
import { rebuildReplica } from './rebuild-replica.js';
import { specFrom } from './spec-input.js';

export async function failoverToStandby(input: FailoverInput): Promise<FailoverReport> {
  const spec = await specFrom(input);
  const workflowId = workflowInfo().workflowId;
  // One failover per cluster: only the execution with the cluster's own id may act on it.
  if (workflowId !== failoverWorkflowId(spec.cluster))
    throw ApplicationFailure.nonRetryable(`start this failover with workflow id ${failoverWorkflowId(spec.cluster)}`, 'SpecInvalid');
  if (!spec.failover)
    throw ApplicationFailure.nonRetryable(
      `the spec of ${spec.cluster} has no failover section: give failover.replicasAfter (and the lag limits) first`,
      'SpecInvalid',
    );
  // The topology after the failover is validated before anything is touched.
  let after: ClusterSpec;
  try {
    after = specAfterFailover(spec);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `the topology after the failover is not a valid spec: ${err instanceof SpecError ? err.message : (err as Error).message}`,
      'SpecInvalid',
    );
  }
  upsertSearchAttributes([
    { key: ClusterName, value: spec.cluster },
    { key: Trigger, value: input.trigger ?? 'ui' },
  ]);

  const tell = teller(spec, input.trigger, workflowId);
  void tell('started', `failover to the standby started (trigger: ${input.trigger ?? 'ui'})`);

  const rec = new Recorder(spec.cluster);
  const gate = gates(spec, rec, tell, () => true);
  const end = (outcome: Outcome) => {
    rec.progress.outcome = outcome;
    if (outcome === 'failed' || outcome === 'aborted') rec.phase(outcome);
    upsertSearchAttributes([{ key: OutcomeAttribute, value: outcome }]);
  };
  const report = await inScope('failover', rec, tell, end, () => runbook(spec, after, input, rec, gate, end));
  await tell('succeeded', `${report.headline}; ${report.rpo}`);
  return report;
}

async function runbook(
  spec: ClusterSpec,
  after: ClusterSpec,
  input: FailoverInput,
  rec: Recorder,
  gate: Gate,
  end: (outcome: Outcome) => void,
): Promise<FailoverReport> {
  const { workflowId, runId } = workflowInfo();

  const standby = failoverStandby(spec);
  const newPrimary = after.nodes.find((n) => n.role === 'primary')!;
  const replicas = nodesOf(after, 'replica');
  const each = <T>(nodes: { name: string }[], fn: (name: string) => Promise<T>) => Promise.all(nodes.map((n) => fn(n.name)));

  if (input.requireApproval) await gate('start', ['the cluster policy asks for approval before a failover starts']);

  rec.phase('check');
  await rec.step('checkRunbooks', undefined, (o) => quick.checkRunbooks.executeWithOptions(o, [spec.cluster, { workflowId, runId }]));

  rec.phase('fence');
  const fence = await rec.step('fence', undefined, (o) => quick.fenceForFailover.executeWithOptions(o, [spec, after]));
  if (!fence.details?.proven) {
    const evidence = fence.details?.evidence as string[];
    if (spec.fencing.onUnprovable === 'fail')
      throw ApplicationFailure.nonRetryable(
        `cannot prove the old nodes and the old shared disk are out of use: ${evidence.join('; ')}`,
        'SplitBrainRisk',
      );
    await gate('fence', evidence);
  }

  rec.phase('position');
  const recorded = await rec.step('recordPosition', standby.name, (o) => quick.recordPosition.executeWithOptions(o, [spec]), 'standby');
  const position = recorded.details!.position as StandbyPosition;
  const limits = spec.failover!;
  if (position.lagBytes > limits.maxLagBytes || position.lagSeconds > limits.maxLagSeconds)
    await gate('lag', [
      `the standby ${standby.name} is behind: ${position.lagBytes} bytes (limit ${limits.maxLagBytes}), ${position.lagSeconds} s (limit ${limits.maxLagSeconds})`,
      `received ${position.receiveLsn}, replayed ${position.replayLsn}, last replayed transaction at ${position.lastReplayedXactAt ?? 'none'}`,
      `old primary: ${position.oldPrimaryLsn ?? 'unknown'} (${position.oldPrimaryLsnSource})`,
      'approving promotes it and loses what it has not replayed',
    ]);

  rec.phase('promote');
  // A recovery started while the gates waited must not run beside the promotion either.
  await rec.step('checkRunbooks', 'promote', (o) => quick.checkRunbooks.executeWithOptions(o, [spec.cluster, { workflowId, runId }]));
  const promoted = await rec.step('promote', standby.name, (o) => long.promote.executeWithOptions(o, [spec]), 'standby');

  rec.phase('slots');
  await rec.step('validateSlots', newPrimary.name, (o) => quick.validateSlots.executeWithOptions(o, [after, true]));

  rec.phase('replicas');
  // PolarDB: the standby's disk is the new shared disk, attached and served by pfsd on every new
  // read-only node's host. postgres: each read-only node is a clone of the new primary.
  const onShared = sharedNodes(after).filter((n) => n.role === 'replica');
  await each(onShared, (n) =>
    rec.step('attachStorage', n, (o) => quick.attachStorage.executeWithOptions(o, [after, n, 'shared']), 'replica'),
  );
  await each(onShared, (n) =>
    rec.step('startStorageDaemon', n, (o) => quick.startStorageDaemon.executeWithOptions(o, [after, n, 'shared']), 'replica'),
  );
  await each(replicas, (n) => rec.step('prepareBinaries', n, (o) => quick.prepareBinaries.executeWithOptions(o, [after, n]), 'replica'));
  await each(replicas, async (n) => {
    try {
      rec.adopt(
        await executeChild(rebuildReplica, {
          args: [after, n],
          workflowId: `${workflowId}/replica/${n}`,
          workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
          typedSearchAttributes: [
            { key: ClusterName, value: spec.cluster },
            { key: Trigger, value: input.trigger ?? 'ui' },
          ],
          staticSummary: `rebuild read-only node ${n} of ${spec.cluster} on ${after.storage.diskName}`,
        }),
      );
    } catch (err) {
      const steps = rootFailure(err).details?.[0] as { steps?: StepRecord[] } | undefined;
      if (steps?.steps) rec.adopt(steps.steps);
      throw err;
    }
  });

  rec.phase('verify');
  await rec.step('verifyFailover', undefined, (o) =>
    long.verifyFailover.executeWithOptions(o, [after, `${workflowId}@${runId}`, recorded.details!.fingerprint as Fingerprint]),
  );
  const written = await rec.step('writeSpec', undefined, (o) => quick.writeFailoverSpec.executeWithOptions(o, [after, runId]));

  const endedAt = Date.now();
  const outcome: Outcome = promoted.changed ? 'failed-over' : 'already-failed-over';
  rec.phase('done');
  end(outcome);
  return {
    ...rec.report(outcome, endedAt),
    promoted: standby.name,
    timeline: promoted.details!.timeline as number,
    position,
    rpo: recorded.details!.alreadyPromoted
      ? `${standby.name} was read-write before this run: its position at the promotion is not known to this run`
      : rpoOf(position),
    specAfter: after,
    specAfterFile: written.details!.file as string,
  };
}
