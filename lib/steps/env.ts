// What a runbook step is given by whoever runs it: an activity adapter (activities/), or the raw
// benchmark and the tests, outside Temporal (runStep). The steps report into their journal and
// return their typed details; the runner makes the step's result of both.
import type { Detailed, StepResult } from '../model/report.js';
import type { NodeSpec } from '../model/spec.js';
import type { Host } from '../hosts/types.js';
import { Journal } from '../ops.js';

export interface StepEnv {
  /** The host of a node (in an activity, its commands end with the activity's cancellation). */
  hostFor(node: NodeSpec): Host;
  /** What the step did; its live progress and its waits (j.progress: heartbeats, cancellable sleeps). */
  j: Journal;
  /** When the step's first attempt began: a primary that does not serve is final some seconds after (lib/primary.ts). */
  sinceMs: number;
}

/** A step's result: what its journal holds, which attempt it was, its details (typed per step, lib/model/report.ts). */
export type ResultOf<D> = [D] extends [void] ? StepResult : Detailed<D>;

export function stepResult<D>(j: Journal, attempt: number, details: D): ResultOf<D> {
  return {
    changed: j.changed,
    commands: j.commands,
    skipped: j.skipped,
    verified: j.verified,
    ...(j.warnings.length ? { warnings: j.warnings } : {}),
    attempt,
    ...(details ? { details } : {}),
  } as ResultOf<D>;
}

/** Runs a step outside Temporal (the raw benchmark, tests): a first attempt, quiet progress, plain sleeps. */
export async function runStep<D>(
  hostFor: (node: NodeSpec) => Host,
  step: (s: StepEnv) => Promise<D>,
  onCommand?: (host: string, command: string) => void,
): Promise<ResultOf<D>> {
  const s: StepEnv = { hostFor, j: new Journal(onCommand), sinceMs: Date.now() };
  return stepResult(s.j, 1, await step(s));
}
