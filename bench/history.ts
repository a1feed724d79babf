// What the server's history says about a recovery: when each activity was scheduled, started
// (its last attempt) and completed, and how long each workflow task took. This separates the time
// activities spend executing from the time the orchestration spends between them.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { StepRecord } from '../lib/model/report.js';
import type { ClusterSpec } from '../lib/model/spec.js';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type Event = NonNullable<History['events']>[number];

const num = (v: unknown): number =>
  typeof v === 'number'
    ? v
    : v && typeof (v as { toNumber?: unknown }).toNumber === 'function'
      ? (v as { toNumber(): number }).toNumber()
      : Number(v ?? 0);
export const eventMs = (e: Event): number => num(e.eventTime?.seconds) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

export interface ActivityRun {
  workflowId: string;
  activity: string;
  /** The node the activity acted on (its second argument), when it names one. */
  node?: string;
  scheduledAt: number;
  /** Start of the last attempt. */
  startedAt: number;
  completedAt: number;
  attempt: number;
}

export interface WorkflowTaskRun {
  workflowId: string;
  scheduledAt: number;
  startedAt: number;
  completedAt: number;
}

const decodeArgs = (e: Event): unknown[] =>
  (e.activityTaskScheduledEventAttributes?.input?.payloads ?? []).map((p) => {
    try {
      return JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    } catch {
      return undefined;
    }
  });

export async function histories(
  client: Client,
  workflowIds: string[],
  spec?: ClusterSpec,
): Promise<{ activities: ActivityRun[]; workflowTasks: WorkflowTaskRun[] }> {
  const activities: ActivityRun[] = [];
  const workflowTasks: WorkflowTaskRun[] = [];
  const nodeNames = new Set(spec?.nodes.map((n) => n.name) ?? []);
  for (const id of workflowIds) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const byId = new Map(events.map((e) => [num(e.eventId), e]));
    for (const e of events) {
      const c = e.activityTaskCompletedEventAttributes;
      if (c) {
        const scheduled = byId.get(num(c.scheduledEventId));
        const started = byId.get(num(c.startedEventId));
        const arg = scheduled ? decodeArgs(scheduled)[1] : undefined;
        activities.push({
          workflowId: id,
          activity: scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
          node: typeof arg === 'string' && nodeNames.has(arg) ? arg : undefined,
          scheduledAt: scheduled ? eventMs(scheduled) : NaN,
          startedAt: started ? eventMs(started) : NaN,
          completedAt: eventMs(e),
          attempt: started?.activityTaskStartedEventAttributes?.attempt ?? 1,
        });
      }
      const w = e.workflowTaskCompletedEventAttributes;
      if (w) {
        const scheduled = byId.get(num(w.scheduledEventId));
        const started = byId.get(num(w.startedEventId));
        workflowTasks.push({
          workflowId: id,
          scheduledAt: scheduled ? eventMs(scheduled) : NaN,
          startedAt: started ? eventMs(started) : NaN,
          completedAt: eventMs(e),
        });
      }
    }
  }
  activities.sort((a, b) => a.completedAt - b.completedAt);
  return { activities, workflowTasks };
}

/** Activity executions (start of the last attempt to completion) as step records, for the breakdown. */
export const executionsAsSteps = (activities: ActivityRun[]): StepRecord[] =>
  activities
    .filter((a) => a.activity !== 'notifyOperators')
    .map((a) => ({
      id: a.node ? `${a.activity}:${a.node}` : a.activity,
      step: a.activity as StepRecord['step'],
      node: a.node,
      state: 'done' as const,
      startedAt: new Date(a.startedAt).toISOString(),
      endedAt: new Date(a.completedAt).toISOString(),
      durationMs: a.completedAt - a.startedAt,
      commands: [],
      skipped: [],
      verified: [],
    }));

/** The recovery's workflow and its replica children. */
export const recoveryWorkflowIds = (spec: ClusterSpec): string[] => [
  `recover/${spec.cluster}`,
  ...spec.nodes.filter((n) => n.role === 'replica').map((n) => `recover/${spec.cluster}/replica/${n.name}`),
];
