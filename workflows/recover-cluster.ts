// recoverCluster: the runbook. Brings a shared-storage cluster back when every compute host is
// gone and only the storage survives: it runs the declared recovery (lib/model/steps.ts: fence ->
// storage beside the binaries -> primary -> slots -> standbys and replicas -> verify), deciding
// at the gates, then reports.
import { ApplicationFailure, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { recoveryWorkflowId, type RecoverInput } from '../lib/model/input.js';
import type { FenceDetails, Outcome, RecoveryReport, StepOutcome } from '../lib/model/report.js';
import { ClusterName, Trigger } from '../lib/model/search-attributes.js';
import { primaryOf, type ClusterSpec } from '../lib/model/spec.js';
import { hasTemplatesStep, recoverySteps } from '../lib/model/steps.js';
import { activityOf } from './options.js';
import { at, Recorder } from './recorder.js';
import { legacyRunbook } from './recover-legacy.js';
import { replicaChild } from './replica-child.js';
import { call, runSteps } from './run-steps.js';
import { gates, inScope, teller, type Gate } from './runbook.js';
import { specFrom } from './spec-input.js';

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

  const tell = teller(spec, input.trigger, workflowId);
  void tell('started', `recovery started (trigger: ${input.trigger ?? 'ui'})`); // not awaited: adds no latency

  const rec = new Recorder(spec.cluster);
  const gate = gates(spec, rec, tell, () => patched('gate-timeout'));
  const report = await inScope(
    'recovery',
    rec,
    tell,
    (outcome) => rec.end(outcome),
    () => runbook(spec, input, rec, gate),
  );
  await tell('succeeded', report.headline);
  return report;
}

async function runbook(spec: ClusterSpec, input: RecoverInput, rec: Recorder, gate: Gate): Promise<RecoveryReport> {
  if (input.requireApproval) await gate('start', ['the cluster policy asks for approval before a recovery starts']);
  // Recoveries started before the steps were declared replay the commands they ran.
  if (!patched('step-model')) return legacyRunbook(spec, input, rec, gate);

  const primary = primaryOf(spec);
  const { workflowId, runId } = workflowInfo();
  let fence: FenceDetails | undefined;
  let primaryStart: StepOutcome | undefined;
  const onNode = (s: { node?: string }) => s.node!;
  // Recoveries started before the config templates became a step of their own, before the
  // primary's storage came first, or before its binaries started beside its attach, keep their steps.
  const runbook = recoverySteps(spec, {
    templatesApart: patched('templates-apart'),
    primaryStorageFirst: patched('primary-storage-first'),
    primaryBinariesEarly: patched('primary-binaries-early'),
  });
  await runSteps(runbook, rec, {
    steps: {
      checkRunbooks: call((s, o) =>
        activityOf(s, 'checkRunbooks').executeWithOptions(o, [spec.cluster, { workflowId, runId }, 'recovery']),
      ),
      fence: call(
        (s, o) => activityOf(s, 'fence').executeWithOptions(o, [spec]),
        async ({ details }) => {
          fence = details;
          if (details.proven) return;
          if (spec.fencing.onUnprovable === 'fail')
            throw ApplicationFailure.nonRetryable(`cannot prove the old primary is down: ${details.evidence.join('; ')}`, 'SplitBrainRisk');
          await gate('fence', details.evidence);
        },
      ),
      provisionHost: call((s, o) => activityOf(s, 'provisionHost').executeWithOptions(o, [spec, onNode(s)])),
      preflight: call((s, o) => activityOf(s, 'preflight').executeWithOptions(o, [spec])),
      attachStorage: call((s, o) => activityOf(s, 'attachStorage').executeWithOptions(o, [spec, onNode(s), s.disk!])),
      startStorageDaemon: call((s, o) => activityOf(s, 'startStorageDaemon').executeWithOptions(o, [spec, onNode(s), s.disk!])),
      prepareBinaries: call((s, o) =>
        activityOf(s, 'prepareBinaries').executeWithOptions(
          o,
          hasTemplatesStep(runbook, onNode(s)) ? [spec, onNode(s), false] : [spec, onNode(s)],
        ),
      ),
      prepareTemplates: call((s, o) => activityOf(s, 'prepareTemplates').executeWithOptions(o, [spec, onNode(s)])),
      buildNode: call((s, o) => activityOf(s, 'buildNode').executeWithOptions(o, [spec, onNode(s)])),
      startNode: call(
        (s, o) => activityOf(s, 'startNode').executeWithOptions(o, [spec, onNode(s)]),
        (r, s) => void (s.node === primary.name && (primaryStart = r)),
      ),
      // Missing slots stop at a gate, then are created empty.
      validateSlots: call(
        (s, o) => activityOf(s, 'validateSlots').executeWithOptions(o, [spec, spec.slots.onMissing === 'create']),
        async ({ details }, s) => {
          if (!details.missing.length) return;
          await gate('slots', [`replication slots missing on the primary: ${details.missing.join(', ')}; approving creates them empty`]);
          await rec.step(at('validateSlots', 'create'), (o) => activityOf(s, 'validateSlots').executeWithOptions(o, [spec, true]));
        },
      ),
      waitStreaming: call((s, o) => activityOf(s, 'waitStreaming').executeWithOptions(o, [spec, onNode(s)])),
      // The fingerprint is compared when this run brought the primary back: it did not answer when
      // the run began (fence looked). startNode's `changed` alone is not enough: a retry after a
      // worker crash mid-start finds the primary the dead worker started already serving.
      verifyData: call((s, o) =>
        activityOf(s, 'verifyData').executeWithOptions(o, [
          spec,
          `${workflowId}@${runId}`,
          !!primaryStart?.changed || !fence?.answering.includes(primary.name),
        ]),
      ),
    },
    // A replica whose build needs no primary was built beside it: its child only starts it.
    child: (n, steps) => replicaChild(spec, input, rec, n, !steps.some((s) => s.name === 'buildNode')),
  });

  const endedAt = Date.now();
  const outcome: Outcome = rec.progress.steps.some((s) => s.changed) ? 'recovered' : 'already-healthy';
  rec.phase('done');
  rec.end(outcome);
  return rec.report(outcome, endedAt);
}
