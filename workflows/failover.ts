// failoverToStandby: the second disaster. The shared storage is lost with the compute hosts' work
// on it; the disaster-recovery standby, on its own disk, takes over. It runs the declared failover
// (lib/model/steps.ts: no other runbook acts -> fence the old nodes and the old disk -> record the
// standby's position (the data-loss window) -> promote, once -> the new topology's slots ->
// read-only nodes rebuilt on the standby's disk as the new shared disk -> verify -> the new spec,
// written), deciding at the gates: an unprovable fence, a standby lagging beyond the limits.
import { ApplicationFailure, executeChild, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { failoverStandby, specAfterFailover } from '../lib/model/failover.js';
import { rootFailure } from '../lib/model/failures.js';
import { failoverWorkflowId, WORKFLOW_TASK_TIMEOUT, type FailoverInput } from '../lib/model/input.js';
import type { FailoverReport, Outcome, PositionDetails, PromoteDetails, SpecFileDetails, StepRecord } from '../lib/model/report.js';
import { rpoOf } from '../lib/model/report.js';
import { ClusterName, Outcome as OutcomeAttribute, Trigger } from '../lib/model/search-attributes.js';
import { SpecError, type ClusterSpec } from '../lib/model/spec.js';
import { failoverSteps } from '../lib/model/steps.js';
import { activityOf } from './options.js';
import { Recorder } from './recorder.js';
import { call, runSteps } from './run-steps.js';
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

  if (input.requireApproval) await gate('start', ['the cluster policy asks for approval before a failover starts']);

  let recorded: PositionDetails | undefined;
  let promoted: { changed: boolean; details: PromoteDetails } | undefined;
  let written: SpecFileDetails | undefined;
  const onNode = (s: { node?: string }) => s.node!;
  await runSteps(failoverSteps(spec, after), rec, {
    steps: {
      checkRunbooks: call((s, o) => activityOf(s, 'checkRunbooks').executeWithOptions(o, [spec.cluster, { workflowId, runId }])),
      fenceForFailover: call(
        (s, o) => activityOf(s, 'fenceForFailover').executeWithOptions(o, [spec, after]),
        async ({ details }) => {
          if (details.proven) return;
          if (spec.fencing.onUnprovable === 'fail')
            throw ApplicationFailure.nonRetryable(
              `cannot prove the old nodes and the old shared disk are out of use: ${details.evidence.join('; ')}`,
              'SplitBrainRisk',
            );
          await gate('fence', details.evidence);
        },
      ),
      recordPosition: call(
        (s, o) => activityOf(s, 'recordPosition').executeWithOptions(o, [spec]),
        async ({ details }) => {
          recorded = details;
          const { position } = details;
          const limits = spec.failover!;
          if (position.lagBytes > limits.maxLagBytes || position.lagSeconds > limits.maxLagSeconds)
            await gate('lag', [
              `the standby ${standby.name} is behind: ${position.lagBytes} bytes (limit ${limits.maxLagBytes}), ${position.lagSeconds} s (limit ${limits.maxLagSeconds})`,
              `received ${position.receiveLsn}, replayed ${position.replayLsn}, last replayed transaction at ${position.lastReplayedXactAt ?? 'none'}`,
              `old primary: ${position.oldPrimaryLsn ?? 'unknown'} (${position.oldPrimaryLsnSource})`,
              'approving promotes it and loses what it has not replayed',
            ]);
        },
      ),
      promote: call(
        (s, o) => activityOf(s, 'promote').executeWithOptions(o, [spec]),
        (r) => void (promoted = r),
      ),
      validateSlots: call((s, o) => activityOf(s, 'validateSlots').executeWithOptions(o, [after, true])),
      attachStorage: call((s, o) => activityOf(s, 'attachStorage').executeWithOptions(o, [after, onNode(s), 'shared'])),
      startStorageDaemon: call((s, o) => activityOf(s, 'startStorageDaemon').executeWithOptions(o, [after, onNode(s), 'shared'])),
      prepareBinaries: call((s, o) => activityOf(s, 'prepareBinaries').executeWithOptions(o, [after, onNode(s)])),
      verifyFailover: call((s, o) =>
        activityOf(s, 'verifyFailover').executeWithOptions(o, [after, `${workflowId}@${runId}`, recorded!.fingerprint]),
      ),
      writeFailoverSpec: call(
        (s, o) => activityOf(s, 'writeFailoverSpec').executeWithOptions(o, [after, runId]),
        ({ details }) => void (written = details),
      ),
    },
    child: async (n) => {
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
    },
  });

  const endedAt = Date.now();
  const outcome: Outcome = promoted!.changed ? 'failed-over' : 'already-failed-over';
  rec.phase('done');
  end(outcome);
  return {
    ...rec.report(outcome, endedAt),
    promoted: standby.name,
    timeline: promoted!.details.timeline,
    position: recorded!.position,
    rpo: recorded!.alreadyPromoted
      ? `${standby.name} was read-write before this run: its position at the promotion is not known to this run`
      : rpoOf(recorded!.position),
    specAfter: after,
    specAfterFile: written!.file,
  };
}
