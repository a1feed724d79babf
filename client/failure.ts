// What a failed recovery tells an operator: its failure type, the step and node that failed, the
// cause (the whole chain: workflow -> child workflow -> activity -> the typed ApplicationFailure)
// and what to do (the README's table, lib/model/failures.ts).
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  TerminatedFailure,
  CancelledFailure,
  TimeoutFailure,
} from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { DrillFailureTypes } from '../lib/model/drill.js';
import { FailureTypes } from '../lib/model/failures.js';
import type { Progress } from '../lib/model/report.js';

export interface FailureInfo {
  /** The ApplicationFailure type (StorageMissing, SplitBrainRisk, ...), Terminated, Cancelled, Timeout; or unknown. */
  type: string;
  step?: string;
  node?: string;
  /** The innermost message: what actually went wrong. */
  cause: string;
  /** Every message of the chain, outermost first. */
  chain: string[];
  /** What to do, when the type is one the runbook knows. */
  whatToDo?: string;
  nonRetryable?: boolean;
  details?: unknown[];
}

const advice: Record<string, string> = { ...FailureTypes, ...DrillFailureTypes };

/** Walks the cause chain of a workflow failure; `progress` (its last progress) names the failed step. */
export function describeFailure(err: unknown, progress?: Progress): FailureInfo {
  const chain: string[] = [];
  let type: string | undefined;
  let step: string | undefined;
  let node: string | undefined;
  let nonRetryable: boolean | undefined;
  let details: unknown[] | undefined;
  let innermost = '';
  for (let e = err as Error | undefined; e; e = (e as { cause?: Error }).cause) {
    if (e.message) {
      chain.push(`${e.constructor?.name ?? 'Error'}: ${e.message}`);
      innermost = e.message;
    }
    if (e instanceof ApplicationFailure) {
      if (e.type) type = e.type;
      nonRetryable = e.nonRetryable === true;
      if (e.details?.length) details = e.details as unknown[];
    } else if (e instanceof ActivityFailure) {
      step = e.activityType ?? step;
    } else if (e instanceof ChildWorkflowFailure) {
      // recover/<cluster>/replica/<node>
      const m = /\/replica\/([^/]+)$/.exec(e.execution?.workflowId ?? '');
      if (m) node = m[1];
    } else if (e instanceof TerminatedFailure) type ??= 'Terminated';
    else if (e instanceof CancelledFailure) type ??= 'Cancelled';
    else if (e instanceof TimeoutFailure) type ??= 'Timeout';
    if (!(e as { cause?: unknown }).cause) break;
  }
  // The step record that failed says which node; it is the one the report shows.
  const failed = progress?.steps.filter((s) => s.state === 'failed') ?? [];
  const rec = failed.find((s) => !step || s.step === step) ?? failed.at(-1);
  if (rec) {
    step = rec.step;
    node = rec.node ?? node;
  }
  const d = details?.[0] as { step?: unknown; node?: unknown } | undefined;
  if (d && typeof d === 'object') {
    if (typeof d.step === 'string') step ??= d.step;
    if (typeof d.node === 'string') node ??= d.node;
  }
  const t = type ?? 'unknown';
  return {
    type: t,
    ...(step ? { step } : {}),
    ...(node ? { node } : {}),
    cause: innermost || String(err),
    chain,
    ...(advice[t] ? { whatToDo: advice[t] } : {}),
    ...(nonRetryable !== undefined ? { nonRetryable } : {}),
    ...(details ? { details } : {}),
  };
}

export function renderFailure(workflowId: string, f: FailureInfo): string {
  return [
    `${workflowId}: FAILED`,
    `  type:   ${f.type}${f.nonRetryable ? ' (no retry can fix it)' : ''}`,
    `  step:   ${f.step ?? '-'}`,
    `  node:   ${f.node ?? '-'}`,
    `  cause:  ${f.cause}`,
    `  to do:  ${f.whatToDo ?? 'read the cause; fix it, then start the recovery again (finished steps are not repeated)'}`,
  ].join('\n');
}

export const isWorkflowFailure = (err: unknown): err is WorkflowFailedError => err instanceof WorkflowFailedError;
