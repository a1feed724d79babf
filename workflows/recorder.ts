// Records every step a workflow runs (start, end, attempts, commands, what it verified): the
// live `progress` and, at the end, the RecoveryReport.
import { ApplicationFailure, upsertSearchAttributes } from '@temporalio/workflow';
import type { Progress, StepName, StepRecord, StepResult } from '../common/report.js';
import { Phase } from '../common/search-attributes.js';

const iso = (ms: number) => new Date(ms).toISOString();

export class Recorder {
  readonly progress: Progress;
  aborted?: string;

  constructor(cluster: string) {
    this.progress = { cluster, phase: 'starting', steps: [], startedAt: iso(Date.now()) };
  }

  phase(name: string): void {
    this.progress.phase = name;
    upsertSearchAttributes([{ key: Phase, value: name }]);
  }

  /** Runs one step unless the recovery was aborted; its record is live in `progress`. */
  async step(step: StepName, node: string | undefined, fn: () => Promise<StepResult>): Promise<StepResult> {
    if (this.aborted !== undefined) throw this.abortFailure();
    const rec: StepRecord = {
      id: node ? `${step}:${node}` : step,
      step,
      node,
      state: 'running',
      startedAt: iso(Date.now()),
      commands: [],
      skipped: [],
      verified: [],
    };
    this.progress.steps.push(rec);
    const t0 = Date.now();
    try {
      const r = await fn();
      Object.assign(rec, {
        state: 'done',
        attempts: r.attempt,
        changed: r.changed,
        commands: r.commands,
        skipped: r.skipped,
        verified: r.verified,
        details: r.details,
      });
      return r;
    } catch (err) {
      rec.state = 'failed';
      rec.error = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      throw err;
    } finally {
      rec.endedAt = iso(Date.now());
      rec.durationMs = Date.now() - t0;
    }
  }

  /** Steps a child workflow ran, folded into this record. */
  adopt(steps: StepRecord[]): void {
    this.progress.steps.push(...steps);
  }

  abortFailure(): ApplicationFailure {
    const done = this.progress.steps.filter((s) => s.state === 'done').map((s) => s.id);
    return ApplicationFailure.nonRetryable(
      `aborted (${this.aborted || 'no reason given'}) before the next step; completed: ${done.join(', ') || 'nothing'}`,
      'Aborted',
    );
  }
}
