// Which recovery an alert is about. An alert instance (its incident key) starts at most one recovery,
// ever: Temporal is the store. The key is written into the memo of the run it starts, and every alert
// first describes the latest run of recover/<cluster>: running -> attach; ended for this same incident
// -> answer with how it ended and start nothing; ended for another incident -> cooldown or a new run.
import { Client, WorkflowExecutionDescription, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { failoverWorkflowId, recoveryWorkflowId } from '../../lib/model/input.js';
import type { Progress } from '../../lib/model/report.js';
import { Phase } from '../../lib/model/search-attributes.js';
import { startOrAttachFailover } from '../start-failover.js';
import { startOrAttachRecovery } from '../start-recovery.js';
import type { NormalizedAlert } from './payload.js';

type Failure = proto.temporal.api.failure.v1.IFailure;
const CLOSE_EVENT = proto.temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;

export type Answer =
  /** This alert started the recovery. */
  | { status: 'started'; runId?: string }
  /** A recovery of the cluster is running (for this incident or another): the alert joins it. */
  | { status: 'attached'; runId?: string }
  /** The recovery of this very incident completed; a repeat starts nothing. */
  | { status: 'completed'; runId: string; closedAt?: string; outcome?: string }
  /** The recovery of this incident did not complete: it waits for an operator, repeats do not retry it. */
  | {
      status: 'failed';
      runId: string;
      closedAt?: string;
      /** FAILED, TERMINATED, CANCELED or TIMED_OUT. */
      closeStatus: string;
      /** The activity that failed (the step), else the phase the recovery was in. */
      step?: string;
      failureType?: string;
      message: string;
    }
  /** Another incident's recovery ended less than the cluster's cooldown ago: nothing starts (flapping). */
  | { status: 'cooldown'; runId: string; closedAt: string; until: string };

export interface Decision {
  cluster: string;
  workflowId: string;
  started: boolean;
  answer: Answer;
}

/** Temporal did not answer in time, or too many calls wait for it: the sender should retry later. */
export class TemporalBusy extends Error {
  override name = 'TemporalBusy';
}

/** At most `max` calls in flight; a caller whose deadline passes while it waits for a slot gives up. */
class Limiter {
  private active = 0;
  private readonly waiting: { go: () => void; deadline: number }[] = [];
  constructor(private readonly max: number) {}

  async run<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      await new Promise<void>((resolve, reject) => {
        const waiter = { go: () => (clearTimeout(timer), resolve()), deadline };
        const timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(new TemporalBusy('too many calls to Temporal are waiting'));
        }, deadline - Date.now());
        this.waiting.push(waiter);
      });
    } else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next.go();
      else this.active--;
    }
  }
}

export interface IncidentsOptions {
  client: Client;
  namespace: string;
  maxConcurrentCalls: number;
  /** Counts each call made to Temporal (for /metrics). */
  onCall?: (call: string) => void;
  /** Called once per failed recovery (per run id, per receiver process) when a repeat first finds it failed. */
  onFailedRepeat?: (decision: Decision) => void;
}

export interface RecoverRequest {
  cluster: string;
  /** Which runbook the alert asks for (default recover): recover/<cluster> or failover/<cluster>, each with its own incidents. */
  runbook?: 'recover' | 'failover';
  alert: NormalizedAlert;
  requireApproval: boolean;
  cooldownMs: number;
  /** Epoch ms by which every Temporal call of this request must have answered. */
  deadline: number;
}

/** How each ended run ended: it never changes, so it is read from Temporal once. */
const MAX_REMEMBERED = 1000;
const RUNNING_TTL_MS = 1000;

export class Incidents {
  private readonly limiter: Limiter;
  private readonly inFlight = new Map<string, Promise<Decision>>();
  /** Recent "attached" decisions: a burst of one incident is answered from here, not by Temporal. */
  private readonly recentlyRunning = new Map<string, { decision: Decision; until: number }>();
  private readonly ended = new Map<string, Promise<Answer>>();
  private readonly failureNotified = new Set<string>();

  constructor(private readonly o: IncidentsOptions) {
    this.limiter = new Limiter(o.maxConcurrentCalls);
  }

  /**
   * Single flight: concurrent alerts of one incident of one cluster share one decision (one
   * describe, at most one start), however many arrive.
   */
  decide(r: RecoverRequest): Promise<Decision> {
    const key = `${r.runbook ?? 'recover'}\n${r.cluster}\n${r.alert.incident}`;
    const recent = this.recentlyRunning.get(key);
    if (recent && recent.until > Date.now()) return Promise.resolve(recent.decision);
    const flight = this.inFlight.get(key);
    // Only the alert that made the start reports it; the others of its flight joined that run.
    if (flight) return flight.then((d) => (d.started ? { ...d, started: false, answer: { ...d.answer, status: 'attached' } } : d));
    const own = this.decideNow(r).finally(() => this.inFlight.delete(key));
    // Temporal said a run is going: a repeat of this incident within RUNNING_TTL_MS joins it without
    // asking again. At worst a repeat in the moment after the run ended hears "attached"; the next
    // repeat hears how it ended.
    void own.then(
      (d) => {
        if (d.answer.status === 'attached') remember(this.recentlyRunning, key, { decision: d, until: Date.now() + RUNNING_TTL_MS });
      },
      () => undefined,
    );
    return own;
  }

  /** Resolves once no decision is in flight (each call ends by its gRPC deadline at the latest). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight.values()]);
  }

  private call<T>(name: string, deadline: number, fn: () => Promise<T>): Promise<T> {
    return this.limiter.run(deadline, () => {
      this.o.onCall?.(name);
      // The gRPC deadline bounds the client's own retries: an unreachable server fails the call in time.
      return this.o.client.withDeadline(deadline, fn);
    });
  }

  private async decideNow(r: RecoverRequest): Promise<Decision> {
    const failover = r.runbook === 'failover';
    const workflowId = failover ? failoverWorkflowId(r.cluster) : recoveryWorkflowId(r.cluster);
    const decision = (answer: Answer): Decision => ({ cluster: r.cluster, workflowId, started: answer.status === 'started', answer });
    const latest = await this.call('describe', r.deadline, () => this.o.client.workflow.getHandle(workflowId).describe()).catch(
      (e: unknown) => {
        if (e instanceof WorkflowNotFoundError) return undefined;
        throw e;
      },
    );
    if (latest?.status.name === 'RUNNING') return decision({ status: 'attached', runId: latest.runId });

    if (latest) {
      const closedAt = latest.closeTime?.toISOString();
      if ((latest.memo as { incident?: unknown } | undefined)?.incident === r.alert.incident) {
        const d = decision(await this.endedAnswer(latest, r.deadline));
        if (d.answer.status === 'failed' && d.answer.closeStatus !== 'TERMINATED' && d.answer.closeStatus !== 'CANCELED') {
          // Once per failed run: the operator hears of it once, not at every repeat_interval.
          if (!this.failureNotified.has(latest.runId)) {
            remember(this.failureNotified, latest.runId);
            this.o.onFailedRepeat?.(d);
          }
        }
        return d;
      }
      if (r.cooldownMs > 0 && latest.closeTime && Date.now() - latest.closeTime.getTime() < r.cooldownMs) {
        const until = new Date(latest.closeTime.getTime() + r.cooldownMs).toISOString();
        return decision({ status: 'cooldown', runId: latest.runId, closedAt: closedAt!, until });
      }
    }

    const { source, fingerprint, labels, startsAt, incident } = r.alert;
    const input = { cluster: r.cluster, trigger: 'webhook' as const, requireApproval: r.requireApproval };
    const memo = { alert: { source, fingerprint, labels, startsAt }, incident };
    const started = await this.call('start', r.deadline, () =>
      failover
        ? startOrAttachFailover(this.o.client, r.cluster, input, memo)
        : startOrAttachRecovery(this.o.client, r.cluster, input, memo),
    );
    // Attached: another receiver (or the CLI) started one between the describe and the start.
    const runId = started.runId;
    return decision({ status: started.started ? 'started' : 'attached', runId });
  }

  private endedAnswer(d: WorkflowExecutionDescription, deadline: number): Promise<Answer> {
    let answer = this.ended.get(d.runId);
    if (!answer) {
      answer = this.readEnd(d, deadline);
      answer.catch(() => this.ended.delete(d.runId));
      remember(this.ended, d.runId, answer);
    }
    return answer;
  }

  /** The run's close event: its result (outcome) or its failure (which step, which type, why). */
  private async readEnd(d: WorkflowExecutionDescription, deadline: number): Promise<Answer> {
    const { history } = await this.call('history', deadline, () =>
      this.o.client.workflowService.getWorkflowExecutionHistory({
        namespace: this.o.namespace,
        execution: { workflowId: d.workflowId, runId: d.runId },
        historyEventFilterType: CLOSE_EVENT,
      }),
    );
    const event = history?.events?.[0];
    const closedAt = d.closeTime?.toISOString();
    const runId = d.runId;
    if (d.status.name === 'COMPLETED') {
      const payload = event?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
      const report = payload ? defaultPayloadConverter.fromPayload<{ outcome?: string }>(payload) : undefined;
      return { status: 'completed', runId, closedAt, outcome: report?.outcome };
    }
    const phase = d.typedSearchAttributes.get(Phase);
    const closeStatus = d.status.name;
    const f = describeFailure(event?.workflowExecutionFailedEventAttributes?.failure);
    const message =
      closeStatus === 'FAILED'
        ? (f.message ?? 'the recovery failed')
        : closeStatus === 'TERMINATED'
          ? `terminated: ${event?.workflowExecutionTerminatedEventAttributes?.reason || 'no reason given'}`
          : closeStatus === 'TIMED_OUT'
            ? 'the recovery timed out'
            : `the recovery ended ${closeStatus.toLowerCase()}`;
    return { status: 'failed', runId, closedAt, closeStatus, step: f.step ?? phase, failureType: f.type, message };
  }
}

/** Down the cause chain: the activity that failed, and the deepest typed application failure. */
function describeFailure(failure: Failure | null | undefined): { step?: string; type?: string; message?: string } {
  const out: { step?: string; type?: string; message?: string } = {};
  for (let f = failure; f; f = f.cause) {
    const activity = f.activityFailureInfo?.activityType?.name;
    if (activity) out.step ??= activity;
    if (f.applicationFailureInfo) {
      if (f.applicationFailureInfo.type) out.type = f.applicationFailureInfo.type;
      if (f.message) out.message = f.message;
      // The recovery's own failure carries its report: the failing step and node, named as in the report.
      const payload = f.applicationFailureInfo.details?.payloads?.[0];
      const summary = payload ? defaultPayloadConverter.fromPayload<Partial<Progress>>(payload as Payload)?.failure : undefined;
      if (summary?.step) out.step = summary.step;
    }
    out.message ??= f.message ?? undefined;
  }
  return out;
}

function remember<K, V>(store: Map<K, V> | Set<K>, key: K, value?: V): void {
  if (store.size >= MAX_REMEMBERED) store.delete(store.keys().next().value as K);
  if (store instanceof Map) store.set(key, value as V);
  else store.add(key);
}
