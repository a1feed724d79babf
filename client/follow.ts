// Live progress of a recovery (or a drill): one line per step as it starts and as it ends, with
// durations; retries as they happen (attempt, the last error); and what long steps report while
// they run (a clone's bytes done of total, what a wait waits for, a drill's copy), read from the
// Temporal way of seeing a running activity: describe() -> pendingActivities (attempt,
// lastFailure, heartbeatDetails), also of the running child workflows (the replicas, a drill's
// recovery). On a terminal the live part is one updating line; otherwise a line every few seconds.
import { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Progress, RecoveryReport, StepRecord } from '../lib/model/report.js';
import { Phase } from '../lib/model/search-attributes.js';
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

/** A running activity as describe() shows it. */
export interface LiveActivity {
  workflowId: string;
  activityId: string;
  /** The step id (`buildNode:pb2`) when it can be told, else the activity type. */
  step: string;
  attempt: number;
  lastFailure?: string;
  details?: Record<string, unknown>;
  runningMs?: number;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

/** What a long step reports about itself, in words: `clone 120.3 MB of 256.0 MB (47 %)`. */
export function describeDetails(d: Record<string, unknown> | undefined): string {
  if (!d) return '';
  if (d.phase === 'clone' && typeof d.bytesDone === 'number') {
    const total = typeof d.bytesTotal === 'number' && d.bytesTotal > 0 ? d.bytesTotal : undefined;
    return total
      ? `clone ${mb(Math.min(d.bytesDone, total))} of ${mb(total)} (${Math.min(100, Math.round((100 * d.bytesDone) / total))} %)`
      : `clone ${mb(d.bytesDone)}`;
  }
  if (typeof d.copying === 'string') return `copy ${d.copying}${typeof d.bytes === 'number' ? ` ${mb(d.bytes)}` : ''}`;
  if (typeof d.waiting === 'string')
    return `waiting for ${d.waiting}${typeof d.sinceMs === 'number' ? ` (${(d.sinceMs / 1000).toFixed(1)} s)` : ''}`;
  return JSON.stringify(d);
}

export function liveLine(a: LiveActivity): string {
  const parts = [`  ...  ${a.step}`];
  if (a.runningMs !== undefined) parts.push(`${(a.runningMs / 1000).toFixed(1)}s`);
  const d = describeDetails(a.details);
  if (d) parts.push(d);
  if (a.attempt > 1) parts.push(`attempt ${a.attempt}${a.lastFailure ? ` (last error: ${a.lastFailure})` : ''}`);
  return parts.join('  ');
}

interface Snapshot {
  phase?: string;
  activities: LiveActivity[];
  /** Steps of running child workflows (their progress query). */
  childSteps: StepRecord[];
}

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined =>
  t?.seconds != null ? Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : undefined;

/** Running activities of one workflow; their step told by the heartbeat's node or the one running step of that type. */
async function activitiesOf(
  handle: WorkflowHandle,
  steps: StepRecord[] | undefined,
): Promise<{ phase?: string; acts: LiveActivity[]; children: { workflowId: string; runId: string }[] }> {
  const d = await handle.describe();
  const acts: LiveActivity[] = [];
  for (const pa of d.raw.pendingActivities ?? []) {
    const type = pa.activityType?.name ?? '?';
    let details: Record<string, unknown> | undefined;
    const payload = pa.heartbeatDetails?.payloads?.[0];
    if (payload) {
      try {
        const v = defaultPayloadConverter.fromPayload(payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
        if (v && typeof v === 'object') details = v as Record<string, unknown>;
      } catch {
        // details in a format this client cannot read: shown without them
      }
    }
    const running = (steps ?? []).filter((s) => s.state === 'running' && s.step === type);
    const node = typeof details?.node === 'string' ? details.node : running.length === 1 ? running[0]!.node : undefined;
    const started = tsMs(pa.lastStartedTime);
    acts.push({
      workflowId: handle.workflowId,
      activityId: pa.activityId ?? '?',
      step: node ? `${type}:${node}` : type,
      attempt: pa.attempt ?? 1,
      ...(pa.lastFailure?.message ? { lastFailure: pa.lastFailure.message } : {}),
      ...(details ? { details } : {}),
      ...(started ? { runningMs: Math.max(0, Date.now() - started) } : {}),
    });
  }
  const children = (d.raw.pendingChildren ?? [])
    .filter((c) => c.workflowId && c.runId)
    .map((c) => ({ workflowId: c.workflowId!, runId: c.runId! }));
  return { phase: d.typedSearchAttributes.get(Phase), acts, children };
}

export async function snapshot(handle: WorkflowHandle, progress: Progress | undefined): Promise<Snapshot> {
  const top = await activitiesOf(handle, progress?.steps);
  const snap: Snapshot = { phase: top.phase, activities: top.acts, childSteps: [] };
  for (const c of top.children) {
    const ch = handle.client.getHandle(c.workflowId, c.runId);
    const p = await ch.query(progressQuery).catch(() => undefined);
    if (p) snap.childSteps.push(...p.steps);
    const sub = await activitiesOf(ch, p?.steps).catch(() => undefined);
    if (sub) snap.activities.push(...sub.acts);
    // A drill's recovery has replicas of its own: one level more.
    for (const g of sub?.children ?? []) {
      const gh = handle.client.getHandle(g.workflowId, g.runId);
      const gp = await gh.query(progressQuery).catch(() => undefined);
      if (gp) snap.childSteps.push(...gp.steps);
      const gs = await activitiesOf(gh, gp?.steps).catch(() => undefined);
      if (gs) snap.activities.push(...gs.acts);
    }
  }
  return snap;
}

export interface FollowOptions {
  /** Poll period of the progress query (ms). */
  everyMs?: number;
  /** How often running activities are described (ms). */
  describeEveryMs?: number;
  /** One updating line (a terminal) or a line every `lineEveryMs` (a pipe, a log). Default: whether stdout is a TTY. */
  tty?: boolean;
  lineEveryMs?: number;
  /** Where the updating line is drawn (a TTY's stdout). */
  write?: (s: string) => void;
}

/**
 * Prints progress until the workflow closes; resolves with its result (or rejects with its failure).
 * Works for recoveries (progress query) and drills (phases, pending activities, the child recovery).
 */
export async function watch<T>(handle: WorkflowHandle, print: (l: string) => void = console.log, o: FollowOptions = {}): Promise<T> {
  const everyMs = o.everyMs ?? 250;
  const describeEveryMs = o.describeEveryMs ?? 1000;
  const tty = o.tty ?? !!process.stdout.isTTY;
  const lineEveryMs = o.lineEveryMs ?? 3000;
  const write = o.write ?? ((s: string) => void process.stdout.write(s));
  const shown = new Map<string, string>();
  const retries = new Set<string>();
  let gate = '';
  let phase: string | undefined;
  let live = '';
  let lastLiveAt = 0;
  let lastDescribe = 0;
  const result = handle.result() as Promise<T>;
  let done = false;
  result.then(
    () => (done = true),
    () => (done = true),
  );
  const out = (l: string) => {
    if (tty && live) write('\r\x1b[K');
    print(l);
    if (tty && live) write(live);
  };
  const showSteps = (steps: StepRecord[], scope: string) => {
    const seen = new Map<string, number>();
    for (const s of steps) {
      const n = seen.get(s.id) ?? 0;
      seen.set(s.id, n + 1);
      const key = `${s.id}#${n}`;
      if (shown.get(key) === s.state) continue;
      // A child's steps are shown from its own query, then again once the parent adopts them.
      if (scope === 'parent' && shown.get(`${s.id}#child`) === s.state) {
        shown.set(key, s.state);
        continue;
      }
      shown.set(key, s.state);
      if (scope === 'child') shown.set(`${s.id}#child`, s.state);
      const l = line(s);
      if (l) out(l);
    }
  };
  const show = (p: Progress) => {
    showSteps(p.steps, 'parent');
    const g = p.waitingFor ? `${p.waitingFor.gate}: ${p.waitingFor.evidence.join('; ')}` : '';
    if (g && g !== gate) out(`  WAIT approval needed at gate ${g}\n       polar-runbook approve ${handle.workflowId}   (or: abort)`);
    gate = g;
  };
  let progress: Progress | undefined;
  while (!done) {
    progress = await handle.query(progressQuery).then(
      (p) => (show(p), p),
      () => progress,
    );
    if (Date.now() - lastDescribe >= describeEveryMs) {
      lastDescribe = Date.now();
      const snap = await snapshot(handle, progress).catch(() => undefined);
      if (snap && !done) {
        if (snap.phase && snap.phase !== phase && !progress) out(`  phase ${snap.phase}`);
        phase = snap.phase ?? phase;
        showSteps(snap.childSteps, 'child');
        for (const a of snap.activities) {
          const key = `${a.workflowId}/${a.activityId}#${a.attempt}`;
          if (a.attempt > 1 && !retries.has(key)) {
            retries.add(key);
            out(`  RETRY ${a.step} attempt ${a.attempt}${a.lastFailure ? `: ${a.lastFailure}` : ''}`);
          }
        }
        const withNews = snap.activities.filter((a) => a.details || a.attempt > 1);
        const now = withNews.map(liveLine).join(' |');
        if (tty) {
          if (now !== live) {
            live = now;
            write(`\r\x1b[K${live}`);
          }
        } else if (now && Date.now() - lastLiveAt >= lineEveryMs) {
          // Without a terminal: what the long steps report, a line every few seconds.
          print(now);
          lastLiveAt = Date.now();
        }
      }
    }
    await Promise.race([sleep(everyMs), result.catch(() => {})]);
  }
  if (tty && live) write('\r\x1b[K');
  live = '';
  // The steps that ended between the last poll and the end: from the report, or (a failure) the last progress.
  const r = (await result.catch(() => undefined)) as { steps?: { id?: unknown }[] } | undefined;
  if (r && Array.isArray(r.steps) && r.steps.every((s) => typeof s.id === 'string')) showSteps(r.steps as StepRecord[], 'parent');
  else if (!r) await handle.query(progressQuery).then(show, () => {});
  return result;
}

/** Prints a recovery's progress until it closes; returns its report (or throws its failure). */
export async function follow(
  handle: WorkflowHandle,
  print: (l: string) => void = console.log,
  everyMs = 250,
  o: FollowOptions = {},
): Promise<RecoveryReport> {
  return watch<RecoveryReport>(handle, print, { ...o, everyMs });
}
