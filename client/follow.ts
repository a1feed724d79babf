// Live progress of a recovery: one line per step as it starts and as it ends, with durations.
import { WorkflowHandle } from '@temporalio/client';
import type { Progress, RecoveryReport, StepRecord } from '../common/report.js';
import { progressQuery } from '../workflows/definitions.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function line(s: StepRecord): string | undefined {
  const d = s.durationMs !== undefined ? ` ${(s.durationMs / 1000).toFixed(2)}s` : '';
  const attempts = s.attempts && s.attempts > 1 ? ` after ${s.attempts} attempts` : '';
  switch (s.state) {
    case 'running':
      return `  ...  ${s.id}`;
    case 'done':
      return `  ok   ${s.id}${d}${attempts}${s.changed === false ? ' (nothing to change)' : ''}`;
    case 'failed':
      return `  FAIL ${s.id}${d}: ${s.error}`;
    default:
      return undefined;
  }
}

/** Prints progress until the workflow closes; returns its report (or throws its failure). */
export async function follow(handle: WorkflowHandle, print: (l: string) => void = console.log, everyMs = 250): Promise<RecoveryReport> {
  const shown = new Map<string, string>();
  let gate = '';
  const result = handle.result() as Promise<RecoveryReport>;
  let done = false;
  result.then(
    () => (done = true),
    () => (done = true),
  );
  const show = (p: Progress) => {
    for (const s of p.steps) {
      const key = `${s.id}#${p.steps.filter((x) => x.id === s.id).indexOf(s)}`;
      if (shown.get(key) === s.state) continue;
      shown.set(key, s.state);
      const l = line(s);
      if (l) print(l);
    }
    const g = p.waitingFor ? `${p.waitingFor.gate}: ${p.waitingFor.evidence.join('; ')}` : '';
    if (g && g !== gate) print(`  WAIT approval needed at gate ${g}\n       polar-runbook approve ${handle.workflowId}   (or: abort)`);
    gate = g;
  };
  while (!done) {
    await handle.query(progressQuery).then(show, () => {});
    await Promise.race([sleep(everyMs), result.catch(() => {})]);
  }
  const report = await result;
  show(report);
  return report;
}
