// What every runbook workflow shares (recoverCluster, failoverToStandby): telling the operators,
// approval gates that remind and give up, the scope an abort or a cancel ends, and a failure that
// carries its report.
import { ApplicationFailure, CancellationScope, condition, isCancellation, setHandler } from '@temporalio/workflow';
import { FailureTypes, rootFailure, typedRoot } from '../lib/model/failures.js';
import type { Trigger } from '../lib/model/input.js';
import type { FailureSummary, Outcome } from '../lib/model/report.js';
import type { ClusterSpec } from '../lib/model/spec.js';
import { abortSignal, approveSignal, progressQuery } from './definitions.js';
import { notifier } from './options.js';
import type { Recorder } from './recorder.js';

export type Tell = (kind: 'started' | 'waiting-approval' | 'succeeded' | 'failed', text: string) => Promise<void>;

/** Operators hear of a runbook through the notification hooks; a drill's own sandbox run is not an incident. */
export function teller(spec: ClusterSpec, trigger: Trigger | undefined, workflowId: string): Tell {
  return async (kind, text) => {
    if (trigger === 'drill') return;
    await notifier
      .notifyOperators({ kind, cluster: spec.cluster, workflowId, text: `[polar-runbook] ${spec.cluster}: ${text}` })
      .catch(() => {});
  };
}

export type Gate = (name: string, evidence: string[]) => Promise<void>;

/**
 * The approval gate: waits for an operator's `approve` (an abort cancels the wait), touching
 * nothing, reminding the operators every `approval.remindEverySeconds` and giving up at
 * `approval.timeoutSeconds` (ApprovalTimeout). The time it waits is counted apart from the RTO.
 * `timed` false: the untimed wait of workflows recorded before gates had deadlines.
 */
export function gates(spec: ClusterSpec, rec: Recorder, tell: Tell, timed: () => boolean): Gate {
  let approvals = 0;
  setHandler(approveSignal, () => void approvals++);
  return async (name, evidence) => {
    const seen = approvals;
    const since = Date.now();
    rec.progress.waitingFor = { gate: name, evidence, since: new Date(since).toISOString() };
    rec.phase(`waiting-approval:${name}`);
    void tell('waiting-approval', `waiting for approval at ${name}: ${evidence.join('; ')}`);
    if (timed()) {
      const deadline = since + spec.approval.timeoutSeconds * 1000;
      const nextWait = () => Math.max(1, Math.min(deadline - Date.now(), spec.approval.remindEverySeconds * 1000));
      while (!(await condition(() => approvals > seen, nextWait()))) {
        if (Date.now() >= deadline)
          throw ApplicationFailure.nonRetryable(
            `nobody approved the ${name} gate within ${spec.approval.timeoutSeconds} s; evidence: ${evidence.join('; ')}`,
            'ApprovalTimeout',
          );
        const waited = Math.round((Date.now() - since) / 1000);
        void tell('waiting-approval', `still waiting for approval at ${name} (${waited} s): ${evidence.join('; ')}`);
      }
    } else {
      await condition(() => approvals > seen);
    }
    rec.progress.waitingFor = undefined;
    rec.progress.gateWaitMs += Date.now() - since;
  };
}

/**
 * Runs a runbook in a scope that `abort` (a signal) and a Temporal cancel both cancel: running
 * activities and child workflows are cancelled, their commands ended on the hosts, nothing new
 * starts. Whatever stops it, the failure's details and `progress` hold the report (outcome,
 * failure type, step, node, cause, what to do, what completed and what was interrupted), and the
 * operators hear of it. `end` records the outcome (search attributes).
 */
export async function inScope<R>(
  what: string,
  rec: Recorder,
  tell: Tell,
  end: (outcome: Outcome) => void,
  run: () => Promise<R>,
): Promise<R> {
  setHandler(progressQuery, () => rec.progress);
  const scope = new CancellationScope();
  setHandler(abortSignal, (a) => {
    rec.aborted = a?.reason || 'no reason given';
    scope.cancel();
  });
  try {
    return await scope.run(run);
  } catch (err) {
    await rec.settled();
    const failure = summarise(rec, err);
    rec.progress.failure = failure;
    end(failure.type === 'Aborted' ? 'aborted' : 'failed');
    // The scope may be cancelled: the last word still goes out.
    await CancellationScope.nonCancellable(() =>
      tell('failed', `${what} ${rec.progress.outcome}: ${failure.type}${failure.step ? ` at ${failure.step}` : ''}: ${failure.cause}`),
    );
    throw ApplicationFailure.create({
      type: failure.type,
      message: failure.type === 'Aborted' ? failure.cause : `${failure.step ? `${failure.step}: ` : ''}${failure.cause}`,
      nonRetryable: true,
      details: [{ ...rec.progress }],
      cause: err instanceof Error && failure.type !== 'Aborted' ? ((typedRoot(err) as Error | undefined) ?? err) : undefined,
    });
  }
}

/** What went wrong, where, and what to do: the failure's details and `progress.failure`. */
function summarise(rec: Recorder, err: unknown): FailureSummary {
  const steps = rec.progress.steps;
  const completed = steps.filter((s) => s.state === 'done').map((s) => s.id);
  const interrupted = steps.filter((s) => s.state === 'interrupted' || s.state === 'running').map((s) => s.id);
  for (const s of steps) if (s.state === 'running') s.state = 'interrupted';
  if (rec.aborted !== undefined || isCancellation(err)) {
    const reason = rec.aborted ?? 'the workflow was cancelled';
    const where = interrupted.length ? `while ${interrupted.join(', ')} ran (interrupted)` : 'before the next step';
    return {
      type: 'Aborted',
      cause: `aborted (${reason}) ${where}; completed: ${completed.join(', ') || 'nothing'}`,
      whatToDo: FailureTypes.Aborted,
      interrupted,
      completed,
    };
  }
  const root = rootFailure(err);
  const failed = [...steps].reverse().find((s) => s.state === 'failed');
  const type = root.type ?? 'Internal';
  return {
    type,
    ...(failed ? { step: failed.id } : {}),
    ...(failed?.node ? { node: failed.node } : {}),
    cause: root.message,
    whatToDo: FailureTypes[type as keyof typeof FailureTypes] ?? 'read the cause',
    interrupted,
    completed,
  };
}
