// Watching a recovery through its Temporal history, live: a long poll per execution
// (getWorkflowExecutionHistory with waitNewEvent), following the rebuildReplica children as they
// start. Tests act the moment an event arrives (kill the worker right after a step completes),
// then read the history to prove what was scheduled, how often, and in which attempt.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface SourcedEvent {
  workflowId: string;
  runId: string;
  event: HistoryEvent;
  /** Date.now() when the watcher received it. */
  receivedAt: number;
}

/** ms since the epoch of a history event's time. */
export function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  if (!t) return 0;
  return Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

const decode = (payloads: temporal.api.common.v1.IPayload[] | null | undefined): unknown[] =>
  (payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p as Parameters<typeof defaultPayloadConverter.fromPayload>[0]));

const NODE_ARG = new Set([
  'attachStorage',
  'startStorageDaemon',
  'prepareBinaries',
  'prepareTemplates',
  'buildNode',
  'startNode',
  'waitStreaming',
]);

/** The step id an activity call stands for, as the report names it (`buildNode:pb2`, `validateSlots`...). */
export function stepKey(type: string, args: unknown[]): string {
  if (NODE_ARG.has(type)) return `${type}:${String(args[1])}`;
  if (type === 'validateSlots') return args[1] ? 'validateSlots:create' : 'validateSlots';
  if (type === 'notifyOperators') return `notifyOperators:${(args[0] as { kind?: string } | undefined)?.kind}`;
  return type;
}

export class HistoryWatcher {
  readonly events: SourcedEvent[] = [];
  private readonly listeners = new Set<(e?: SourcedEvent) => void>();
  /** One controller per outstanding long poll: stop() aborts them all. */
  private readonly polls = new Set<AbortController>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly following = new Set<string>();
  private failure: Error | undefined;

  constructor(
    private readonly client: Client,
    workflowId: string,
    runId: string,
  ) {
    this.follow(workflowId, runId);
  }

  private follow(workflowId: string, runId: string): void {
    if (this.following.has(runId)) return;
    this.following.add(runId);
    const loop = async () => {
      let nextPageToken: Uint8Array | undefined;
      for (;;) {
        if (this.stopped) return;
        let res: temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryResponse;
        const poll = new AbortController();
        this.polls.add(poll);
        try {
          res = await this.client.connection.withAbortSignal(poll.signal, () =>
            this.client.workflowService.getWorkflowExecutionHistory({
              namespace: this.client.options.namespace,
              execution: { workflowId, runId },
              waitNewEvent: true,
              nextPageToken,
            }),
          );
        } catch (err) {
          if (this.stopped) return;
          this.failure = err as Error;
          this.notify();
          return;
        } finally {
          this.polls.delete(poll);
        }
        for (const event of res.history?.events ?? []) {
          const e: SourcedEvent = { workflowId, runId, event, receivedAt: Date.now() };
          this.events.push(e);
          const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
          if (child?.workflowId && child.runId) this.follow(child.workflowId, child.runId);
          for (const l of this.listeners) l(e);
        }
        if (!res.nextPageToken?.length) return; // the execution closed
        nextPageToken = res.nextPageToken;
      }
    };
    this.loops.push(loop());
  }

  /** Wakes every listener with no event: a long poll failed (see waitFor). */
  private notify(): void {
    for (const l of this.listeners) l(undefined);
  }

  /**
   * Calls `fn` for every event from now on, synchronously as it arrives (or with undefined when a
   * long poll failed); returns the unsubscribe.
   */
  on(fn: (e?: SourcedEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The first event (already seen or still to come) that satisfies `pred`. */
  waitFor(pred: (e: SourcedEvent, all: SourcedEvent[]) => boolean, timeoutMs = 60_000, what = 'an event'): Promise<SourcedEvent> {
    const seen = this.events.find((e) => pred(e, this.events));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (this.failure) {
          clearTimeout(timer);
          off();
          reject(this.failure);
        } else if (e && pred(e, this.events)) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
    });
  }

  /** Activity calls as they stand now. */
  activities(): ActivityCall[] {
    return activityCalls(this.events);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.polls) p.abort();
    await Promise.allSettled(this.loops);
  }
}

export interface ActivityCall {
  workflowId: string;
  activityId: string;
  type: string;
  key: string;
  args: unknown[];
  scheduledEventId: number;
  scheduledAt: number;
  /** Attempt of the last start (ActivityTaskStarted is written when the attempt closes). */
  attempt?: number;
  closedAt?: number;
  /** When the watcher saw it close. */
  closedSeenAt?: number;
  outcome?: 'completed' | 'failed' | 'timed-out' | 'canceled';
  result?: unknown;
}

/** Every activity call in these events, keyed by execution and scheduled event id. */
export function activityCalls(events: SourcedEvent[]): ActivityCall[] {
  const calls = new Map<string, ActivityCall>();
  const id = (wf: string, n: unknown) => `${wf}#${String(n)}`;
  for (const { workflowId, event, receivedAt } of events) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s) {
      const type = s.activityType?.name ?? '?';
      const args = decode(s.input?.payloads);
      calls.set(id(workflowId, event.eventId), {
        workflowId,
        activityId: s.activityId ?? '',
        type,
        key: stepKey(type, args),
        args,
        scheduledEventId: Number(String(event.eventId)),
        scheduledAt: eventMs(event),
      });
      continue;
    }
    const st = event.activityTaskStartedEventAttributes;
    if (st) {
      const c = calls.get(id(workflowId, st.scheduledEventId));
      if (c) c.attempt = st.attempt ?? undefined;
      continue;
    }
    const closes: [unknown, ActivityCall['outcome'], unknown][] = [
      [event.activityTaskCompletedEventAttributes, 'completed', event.activityTaskCompletedEventAttributes?.result?.payloads],
      [event.activityTaskFailedEventAttributes, 'failed', undefined],
      [event.activityTaskTimedOutEventAttributes, 'timed-out', undefined],
      [event.activityTaskCanceledEventAttributes, 'canceled', undefined],
    ];
    for (const [attrs, outcome, payloads] of closes) {
      if (!attrs) continue;
      const c = calls.get(id(workflowId, (attrs as { scheduledEventId?: unknown }).scheduledEventId));
      if (!c) continue;
      c.outcome = outcome;
      c.closedAt = eventMs(event);
      c.closedSeenAt = receivedAt;
      if (payloads) c.result = decode(payloads as temporal.api.common.v1.IPayload[])[0];
    }
  }
  return [...calls.values()];
}

/** Is this event the completion of the activity that stands for step `key` (or a step `key` accepts)? */
export function completes(key: string | ((k: string) => boolean), e: SourcedEvent, all: SourcedEvent[]): boolean {
  const done = e.event.activityTaskCompletedEventAttributes;
  if (!done) return false;
  const scheduled = all.find(
    (x) =>
      x.workflowId === e.workflowId &&
      String(x.event.eventId) === String(done.scheduledEventId) &&
      x.event.activityTaskScheduledEventAttributes,
  );
  const s = scheduled?.event.activityTaskScheduledEventAttributes;
  if (!s) return false;
  const k = stepKey(s.activityType?.name ?? '', decode(s.input?.payloads));
  return typeof key === 'string' ? k === key : key(k);
}

export interface PendingActivity {
  workflowId: string;
  activityId: string;
  type: string;
  /** 1 scheduled, 2 started, 3 cancel requested (PendingActivityState). */
  state: number;
  attempt: number;
  lastFailure?: string;
}

/** Pending activities of an execution (describe), with their last failure, if any. */
export async function pendingActivities(client: Client, workflowId: string, runId?: string): Promise<PendingActivity[]> {
  const d = await client.workflow.getHandle(workflowId, runId).describe();
  return (d.raw.pendingActivities ?? []).map((p) => ({
    workflowId,
    activityId: p.activityId ?? '',
    type: p.activityType?.name ?? '?',
    state: Number(p.state ?? 0),
    attempt: p.attempt ?? 1,
    lastFailure: p.lastFailure?.message ?? undefined,
  }));
}

/** The whole history of an execution and of the children it started, as it stands now. */
export async function fetchAll(client: Client, workflowId: string, runId: string): Promise<SourcedEvent[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const now = Date.now();
  const out: SourcedEvent[] = (history.events ?? []).map((event) => ({ workflowId, runId, event, receivedAt: now }));
  for (const e of [...out]) {
    const child = e.event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId && child.runId) out.push(...(await fetchAll(client, child.workflowId, child.runId)));
  }
  return out;
}

/** The executions (workflow id -> run id) this history holds: the recovery and its children. */
export function executionsOf(events: SourcedEvent[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of events) if (!m.has(e.workflowId)) m.set(e.workflowId, e.runId);
  return m;
}
