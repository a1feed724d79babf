// Runs a declared runbook (lib/model/steps.ts): every step starts once what it needs is done, ties in
// the declaration's order; the phase moves forward as steps of later phases start. A step's
// activity is the workflow's to call (its arguments are the workflow's knowledge); its timeouts
// and retries are the declaration's.
import type { ActivityOptions } from '@temporalio/workflow';
import type { StepOutcome } from '../lib/model/report.js';
import { runInOrder, type ActivityName, type Runbook, type Step } from '../lib/model/steps.js';
import type { Recorder } from './recorder.js';

type Outcome = StepOutcome & { details?: unknown };
export interface Call<R extends Outcome = Outcome> {
  run: (s: Step, o: ActivityOptions) => Promise<R>;
  /** What the runbook does with the result before the steps that need it start (a gate, a value kept). */
  then?: (r: R, s: Step) => Promise<void> | void;
}
/** A typed call: `then` gets what `run` returns. */
export const call = <R extends Outcome>(run: Call<R>['run'], then?: Call<R>['then']): Call => ({ run, then }) as Call;

export interface Calls {
  /** Per activity (several steps may share one). */
  steps: Partial<Record<ActivityName, Call>>;
  /** A node's child workflow, which runs its `inChild` steps (rebuildReplica). */
  child?: (node: string, steps: Step[]) => Promise<void>;
}

export async function runSteps(runbook: Runbook, rec: Recorder, calls: Calls): Promise<void> {
  let phase = -1;
  const enter = (name: string) => {
    const at = runbook.phases.indexOf(name);
    // Every phase up to it, in order (one without steps too): the Phase search attribute moves forward only.
    while (phase < at) rec.phase(runbook.phases[++phase]!);
  };
  // A child's steps run as one unit, once what any of them needs outside the child is done.
  const children = new Map<string, Step[]>();
  for (const s of runbook.steps) if (s.inChild) children.set(s.node!, [...(children.get(s.node!) ?? []), s]);
  const units = runbook.steps.flatMap((s) => {
    if (!s.inChild) return [{ id: s.id, needs: s.needs, steps: [s], child: false }];
    const group = children.get(s.node!)!;
    if (group[0] !== s) return [];
    const ids = new Set(group.map((g) => g.id));
    return [{ id: s.id, needs: [...new Set(group.flatMap((g) => g.needs))].filter((n) => !ids.has(n)), steps: group, child: true }];
  });
  const doneAs = new Map(units.flatMap((u) => u.steps.map((s) => [s.id, u.id] as const)));
  const plain = units.map((u) => ({ ...u, needs: [...new Set(u.needs.map((n) => doneAs.get(n)!))] }));

  await runInOrder(plain, async (u) => {
    const s = u.steps[0]!;
    enter(s.phase);
    if (u.child) return calls.child!(s.node!, u.steps);
    const c = calls.steps[s.activity];
    if (!c) throw new Error(`no call for ${s.activity}`);
    const r = await rec.step(s, (o) => c.run(s, o));
    if (c.then) await c.then(r, s);
  });
}
