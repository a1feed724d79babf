// Records every step a workflow runs (start, end, attempts, commands, what it verified): the
// live `progress`, the workflow's current details in the Web UI and, at the end, the report.
import {
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { rootFailure } from '../lib/model/failures.js';
import {
  headlineOf,
  type Outcome,
  type Progress,
  type RecoveryReport,
  type StepName,
  type StepOutcome,
  type StepRecord,
  type StepTiming,
} from '../lib/model/report.js';
import { Outcome as OutcomeAttribute, Phase } from '../lib/model/search-attributes.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** What names a step in the report and the Web UI (a declared Step is one). */
export interface StepLabel {
  id: string;
  name: StepName;
  node?: string;
  role?: string;
  title?: string;
}

/**
 * Runs `fn` as the step `rec` records: running, then done (`done` adds what it returned), failed or,
 * cancelled, interrupted; when it started and ended, how long it took, and the failure at the bottom
 * of its cause chain. The one step recorder: the runbooks' steps (Recorder.step) and the drill's.
 */
export async function timed<T>(rec: StepTiming, fn: () => Promise<T>, done?: (r: T) => void, settled?: () => void): Promise<T> {
  rec.state = 'running';
  rec.startedAt = iso(Date.now());
  const t0 = Date.now();
  try {
    const r = await fn();
    rec.state = 'done';
    done?.(r);
    return r;
  } catch (err) {
    rec.state = isCancellation(err) ? 'interrupted' : 'failed';
    const root = rootFailure(err);
    rec.error = root.message;
    if (root.type) rec.errorType = root.type;
    throw err;
  } finally {
    rec.endedAt = iso(Date.now());
    rec.durationMs = Date.now() - t0;
    settled?.();
  }
}
/** The label of a step on a node (`startNode:pb1`), or of a step of the whole run. */
export const at = (name: StepName, node?: string, role?: string): StepLabel => ({
  id: node ? `${name}:${node}` : name,
  name,
  node,
  role,
});

export class Recorder {
  readonly progress: Progress;
  aborted?: string;
  /** Steps and child workflows under way: a failure's report waits for them (see settled). */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(cluster: string) {
    // The run's own start time: a first workflow task lost or delayed still counts.
    this.progress = { cluster, phase: 'starting', steps: [], startedAt: workflowInfo().startTime.toISOString(), gateWaitMs: 0 };
  }

  phase(name: string): void {
    this.progress.phase = name;
    upsertSearchAttributes([{ key: Phase, value: name }]);
    this.details();
  }

  /** The Web UI's "current details": the phase and what runs now. */
  details(): void {
    const running = this.progress.steps.filter((s) => s.state === 'running').map((s) => s.title ?? s.id);
    const done = this.progress.steps.filter((s) => s.state === 'done').length;
    const waiting = this.progress.waitingFor ? `\n\n**waiting for approval** at ${this.progress.waitingFor.gate}` : '';
    setCurrentDetails(
      `**${this.progress.cluster}**: phase ${this.progress.phase}; ${done} steps done` +
        (running.length ? `; running: ${running.join(', ')}` : '') +
        waiting,
    );
  }

  /**
   * Runs one step unless the recovery was aborted; its record is live in `progress`. `fn` gets the
   * activity options that name the step in the Web UI (`startNode pb1 (primary)`).
   */
  step<R extends StepOutcome & { details?: unknown }>(s: StepLabel, fn: (o: ActivityOptions) => Promise<R>): Promise<R> {
    // Aborted or cancelled: nothing new starts (and is not recorded as if it had).
    if (CancellationScope.current().consideredCancelled) return Promise.reject(new CancelledFailure('the recovery was aborted'));
    const rec: StepRecord = {
      id: s.id,
      step: s.name,
      node: s.node,
      ...(s.title ? { title: s.title } : {}),
      state: 'running',
      commands: [],
      skipped: [],
      verified: [],
    };
    this.progress.steps.push(rec);
    return timed(
      rec,
      () => {
        this.details();
        return this.track(fn({ summary: `${s.id.replace(':', ' ')}${s.role ? ` (${s.role})` : ''}` } as ActivityOptions));
      },
      (r) =>
        Object.assign(rec, {
          attempts: r.attempt,
          changed: r.changed,
          commands: r.commands,
          skipped: r.skipped,
          verified: r.verified,
          ...(r.warnings ? { warnings: r.warnings } : {}),
          details: r.details as StepRecord['details'],
        }),
      () => this.details(),
    );
  }

  /** The end of the run, in progress and in its search attributes (histories recorded before them replay without). */
  end(outcome: Outcome): void {
    this.progress.outcome = outcome;
    if (!patched('outcome-search-attribute')) return;
    if (outcome === 'failed' || outcome === 'aborted') this.phase(outcome);
    upsertSearchAttributes([{ key: OutcomeAttribute, value: outcome }]);
  }

  /** Follows work under way until it settles (its outcome is still the caller's). */
  track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const forget = () => void this.inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /**
   * Resolves once every step and child under way has settled: a branch that failed first must not
   * report a parallel step as interrupted that then completed (its effect is there).
   */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** The report of a run that completed: its headline first, the RTO without gate time, then the progress. */
  report(outcome: Outcome, endedAt: number): RecoveryReport {
    const { cluster, gateWaitMs } = this.progress;
    const workflowId = workflowInfo().workflowId;
    const rtoMs = endedAt - Date.parse(this.progress.startedAt) - gateWaitMs;
    return {
      headline: headlineOf({ cluster, outcome, rtoMs, gateWaitMs, workflowId }),
      outcome,
      workflowId,
      rtoMs,
      endedAt: new Date(endedAt).toISOString(),
      commandsRun: this.progress.steps.reduce((a, s) => a + s.commands.length, 0),
      warnings: this.progress.steps.flatMap((s) => s.warnings ?? []),
      ...this.progress,
    };
  }

  /** Steps a child workflow ran, folded into this record. */
  adopt(steps: StepRecord[]): void {
    this.progress.steps.push(...steps);
  }
}
