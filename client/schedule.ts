// Scheduled DR drills: one Temporal schedule per cluster (id drill/<cluster>) that starts the
// `drill` workflow. Overlap SKIP: a drill still running when the next is due makes that one skip;
// catch-up window one hour: a drill missed while the server was down runs if the server is back
// within the hour, else waits for the next time.
import { randomUUID } from 'node:crypto';
import type { Client, ScheduleDescription, ScheduleHandle } from '@temporalio/client';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import { asRecorded, drillScheduleId, drillWorkflowId, type DrillInput, type DrillResult } from '../lib/model/drill.js';
import { rootFailure } from '../lib/model/failures.js';
import { TASK_QUEUE } from '../lib/model/input.js';
import { ClusterName, Trigger } from '../lib/model/search-attributes.js';
import { CLUSTER_NAME, type ClusterSpec } from '../lib/model/spec.js';

export const DEFAULT_DRILL_CRON = '0 3 * * 1'; // Mondays 03:00 (UTC unless timezone says otherwise)

export interface DrillScheduleOptions {
  cluster: string;
  /** Cron expression (5 fields); default Mondays 03:00. */
  cron?: string;
  /** IANA time zone the cron is read in; default UTC. */
  timezone?: string;
  /** The spec inline (kept in the schedule); without it the worker's registered spec of `cluster` is used. */
  spec?: ClusterSpec;
  keepSandbox?: boolean;
  note?: string;
  paused?: boolean;
  catchupWindow?: string;
}

function checkCluster(cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) throw new Error(`cluster name ${JSON.stringify(cluster)} must match ${CLUSTER_NAME.source}`);
  return cluster;
}

/** The cluster is not one the worker knows, or no worker answered the question. */
export class UnknownClusterError extends Error {}

/**
 * Asks the worker itself (workflow registeredCluster, on the task queue the drills run on) whether
 * it has `cluster` registered: the worker's clusters dir is where the schedule's drills will look.
 */
export async function checkRegistered(client: Client, cluster: string, timeoutMs = 15_000): Promise<void> {
  try {
    await client.workflow.execute('registeredCluster', {
      taskQueue: TASK_QUEUE,
      workflowId: `check-registered/${cluster}/${randomUUID()}`,
      args: [cluster],
      workflowExecutionTimeout: timeoutMs,
    });
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const { type, message } = rootFailure(err);
    if (type === 'SpecInvalid')
      throw new UnknownClusterError(
        `the worker does not know cluster ${cluster}: ${message}. Put its spec in the worker's POLAR_CLUSTERS_DIR and restart the worker, or give --spec`,
      );
    throw new UnknownClusterError(
      `could not ask the worker about cluster ${cluster} (${message}): is a worker polling task queue ${TASK_QUEUE}? Start it, or give --spec`,
    );
  }
}

export async function createDrillSchedule(client: Client, o: DrillScheduleOptions): Promise<ScheduleHandle> {
  const cluster = checkCluster(o.cluster);
  if (o.spec && o.spec.cluster !== cluster) throw new Error(`the spec is of cluster ${o.spec.cluster}, not ${cluster}`);
  // Without a spec every drill loads the worker's registered one: refuse a cluster it does not know.
  if (!o.spec) await checkRegistered(client, cluster);
  const cron = o.cron ?? DEFAULT_DRILL_CRON;
  const input: DrillInput = {
    ...(o.spec ? { spec: o.spec } : { cluster }),
    trigger: 'schedule',
    ...(o.keepSandbox ? { keepSandbox: true } : {}),
  };
  return client.schedule.create({
    scheduleId: drillScheduleId(cluster),
    spec: { cronExpressions: [cron], ...(o.timezone ? { timezone: o.timezone } : {}) },
    action: {
      type: 'startWorkflow',
      workflowType: 'drill',
      // The server appends the scheduled time: drill/<cluster>-2026-11-30T03:00:00Z.
      workflowId: drillWorkflowId(cluster),
      taskQueue: TASK_QUEUE,
      args: [input],
      typedSearchAttributes: [
        { key: ClusterName, value: cluster },
        { key: Trigger, value: 'schedule' },
      ],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: o.catchupWindow ?? '1 hour', pauseOnFailure: false },
    memo: { cluster, cron, ...(o.timezone ? { timezone: o.timezone } : {}) },
    state: { paused: o.paused ?? false, note: o.note ?? `DR drill of ${cluster} (${cron})` },
  });
}

const handleOf = (client: Client, cluster: string): ScheduleHandle => client.schedule.getHandle(drillScheduleId(checkCluster(cluster)));

/** The note a pause or unpause leaves: the one given, else the schedule's note as it is (the server would replace it). */
async function noteFor(h: ScheduleHandle, note: string | undefined, fallback: string): Promise<string> {
  if (note !== undefined) return note;
  return (await h.describe()).state.note || fallback;
}

export async function pauseDrillSchedule(client: Client, cluster: string, note?: string): Promise<void> {
  const h = handleOf(client, cluster);
  await h.pause(await noteFor(h, note, `paused by ${process.env.USER ?? 'polar-runbook'}`));
}

export async function unpauseDrillSchedule(client: Client, cluster: string, note?: string): Promise<void> {
  const h = handleOf(client, cluster);
  await h.unpause(await noteFor(h, note, `unpaused by ${process.env.USER ?? 'polar-runbook'}`));
}

/** Starts a drill now (also when paused); skipped if one of this schedule's drills is still running. */
export async function triggerDrillSchedule(client: Client, cluster: string): Promise<void> {
  await handleOf(client, cluster).trigger(ScheduleOverlapPolicy.SKIP);
}

/** Deletes the schedule; false when it was already gone (deleting twice is not an error). */
export async function deleteDrillSchedule(client: Client, cluster: string): Promise<boolean> {
  try {
    await handleOf(client, cluster).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError || /already completed|not found/i.test((err as Error).message)) return false;
    throw err;
  }
}

export async function describeDrillSchedule(client: Client, cluster: string): Promise<ScheduleDescription | undefined> {
  try {
    return await handleOf(client, cluster).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

export interface DrillRun {
  workflowId: string;
  runId: string;
  scheduledAt: Date;
  status: string;
  outcome?: DrillResult['outcome'];
  rtoMs?: number;
  error?: string;
}

export interface DrillScheduleInfo {
  cluster: string;
  scheduleId: string;
  cron?: string;
  paused: boolean;
  note?: string;
  nextRuns: Date[];
  recent: DrillRun[];
}

/** What became of a drill a schedule started: status, and outcome and RTO once it has ended. */
export async function drillRun(client: Client, workflowId: string, runId: string, scheduledAt: Date): Promise<DrillRun> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const d = await handle.describe();
  const run: DrillRun = { workflowId, runId, scheduledAt, status: d.status.name };
  if (d.status.name === 'COMPLETED') {
    const r = (await handle.result()) as DrillResult;
    Object.assign(run, { outcome: r.outcome, rtoMs: r.rtoMs });
  } else if (d.status.name === 'FAILED') {
    try {
      await handle.result();
    } catch (err) {
      const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
      const r = (cause as { details?: unknown[] } | undefined)?.details?.[0] as DrillResult | undefined;
      Object.assign(run, {
        outcome: r ? asRecorded(r).outcome : 'failed',
        error: cause?.message ?? (err as Error).message,
        ...(r?.rtoMs !== undefined ? { rtoMs: r.rtoMs } : {}),
      });
    }
  }
  return run;
}

/** Every drill schedule (ids drill/...), with its next times and the results of its last `recent` drills. */
export async function listDrillSchedules(client: Client, recent = 3): Promise<DrillScheduleInfo[]> {
  const out: DrillScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('drill/')) continue;
    const runs: DrillRun[] = [];
    for (const a of s.info.recentActions.slice(-recent).reverse()) {
      const w = a.action.workflow;
      runs.push(
        await drillRun(client, w.workflowId, w.firstExecutionRunId, a.scheduledAt).catch((err: Error) => ({
          workflowId: w.workflowId,
          runId: w.firstExecutionRunId,
          scheduledAt: a.scheduledAt,
          status: `unknown (${err.message})`,
        })),
      );
    }
    out.push({
      cluster: (s.memo?.cluster as string | undefined) ?? s.scheduleId.slice('drill/'.length),
      scheduleId: s.scheduleId,
      cron: s.memo?.cron as string | undefined,
      paused: s.state.paused,
      note: s.state.note,
      nextRuns: s.info.nextActionTimes,
      recent: runs,
    });
  }
  return out.sort((a, b) => a.cluster.localeCompare(b.cluster));
}

/**
 * Waits until the schedule has started more than `after` drills, and returns the newest one's
 * workflow id and run id (after a trigger: the drill it started).
 */
export async function waitForScheduledDrill(
  client: Client,
  cluster: string,
  after: number,
  timeoutMs = 30_000,
): Promise<{ workflowId: string; runId: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await handleOf(client, cluster).describe();
    if (d.info.numActionsTaken > after) {
      const last = d.info.recentActions.at(-1);
      if (last) return { workflowId: last.action.workflow.workflowId, runId: last.action.workflow.firstExecutionRunId };
    }
    if (Date.now() > deadline) throw new Error(`the schedule ${drillScheduleId(cluster)} started no drill within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function renderSchedules(list: DrillScheduleInfo[]): string {
  if (!list.length) return 'no drill schedules';
  const secs = (ms?: number) => (ms === undefined ? '' : ` RTO ${(ms / 1000).toFixed(1)} s`);
  const lines: string[] = [];
  for (const s of list) {
    lines.push(`${s.scheduleId}  cron "${s.cron ?? '?'}"  ${s.paused ? 'PAUSED' : 'active'}${s.note ? `  (${s.note})` : ''}`);
    lines.push(`  next: ${s.nextRuns.map((d) => d.toISOString()).join(', ') || '-'}`);
    for (const r of s.recent)
      lines.push(
        `  ${r.scheduledAt.toISOString()}  ${r.workflowId}  ${r.status.toLowerCase()}${r.outcome ? ` ${r.outcome}` : ''}${secs(r.rtoMs)}${r.error ? `  ${r.error}` : ''}`,
      );
    if (!s.recent.length) lines.push('  no drill yet');
  }
  return lines.join('\n');
}
