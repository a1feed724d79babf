// The progress model and the RecoveryReport: what every trigger (UI, CLI, webhook, drill) reads.

export type StepName =
  | 'preflight'
  | 'fence'
  | 'provisionHost'
  | 'attachStorage'
  | 'startStorageDaemon'
  | 'prepareBinaries'
  | 'prepareTemplates'
  | 'buildNode'
  | 'startNode'
  | 'validateSlots'
  | 'waitStreaming'
  | 'verifyData'
  // failoverToStandby's own steps
  | 'checkRunbooks'
  | 'recordPosition'
  | 'promote'
  | 'verifyFailover'
  | 'writeSpec';

/** What every step hands back: the report's raw material. Never holds a secret. */
export interface StepOutcome {
  changed: boolean;
  commands: string[];
  skipped: string[];
  verified: string[];
  warnings?: string[];
  attempt: number;
}

/** A step that reports nothing beyond its outcome. */
export interface StepResult extends StepOutcome {
  details?: undefined;
}

/** A step that reports what the runbook decides on next: `details` typed per step. */
export interface Detailed<D> extends StepOutcome {
  details: D;
}

/** fence: proven, or the evidence an operator decides on; the nodes that answered (their data may be newer). */
export type FenceDetails = { proven: boolean; evidence: string[]; answering: string[] };
/** fenceForFailover: proven, or the evidence. */
export type FailoverFenceDetails = { proven: boolean; evidence: string[] };
/** validateSlots: the expected slots missing on the primary, and those it created. */
export type SlotDetails = { missing: string[]; created: string[] };
export type AttachDetails = { device: string };
export type ProvisionDetails = { container: string; did: 'created' | 'started' | 'running' };
export type StreamingDetails = { waitedMs: number };
/** Row count and checksum per table (lib/db.ts computes it). */
export type Fingerprint = Record<string, { rows: number; checksum: string }>;
/** recordPosition: where the standby stood, and what it held, before the promote. */
export type PositionDetails = { position: StandbyPosition; fingerprint: Fingerprint; alreadyPromoted: boolean };
export type PromoteDetails = { timeline: number; lsn: string };
export type SpecFileDetails = { file: string };
/** verifyData / verifyFailover: what the checks measured (fingerprint, amcheck, invariants, probe delays). */
export type VerifyDetails = Record<string, unknown>;

/** `interrupted`: an abort or a cancellation stopped it while it ran. */
export type StepState = 'running' | 'done' | 'failed' | 'interrupted';

/** What every recorded step has, a runbook's or a drill's: its state, when, how long, why it failed. */
export interface StepTiming {
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  error?: string;
  /** The failure type (the catalogue's, lib/model/failures.ts) when the step failed. */
  errorType?: string;
}

export interface StepRecord extends StepTiming {
  id: string; // e.g. "startNode:pb1"
  step: StepName;
  node?: string;
  /** The declared step's title (lib/model/steps.ts). */
  title?: string;
  attempts?: number;
  changed?: boolean;
  commands: string[];
  skipped: string[];
  verified: string[];
  warnings?: string[];
  details?: Record<string, unknown>;
}

/** Why a recovery did not complete: enough for an operator to act on without reading a history. */
export interface FailureSummary {
  type: string;
  step?: string;
  node?: string;
  cause: string;
  whatToDo: string;
  /** Steps an abort or cancellation stopped while they ran. */
  interrupted: string[];
  completed: string[];
}

export type Outcome = 'recovered' | 'already-healthy' | 'failed' | 'aborted' | 'failed-over' | 'already-failed-over';

export interface Progress {
  cluster: string;
  phase: string;
  steps: StepRecord[];
  waitingFor?: { gate: string; evidence: string[]; since: string };
  /** The run's start (the workflow's own start time). */
  startedAt: string;
  /** Time spent waiting at approval gates: a person's time, not the runbook's. */
  gateWaitMs: number;
  /** Set once the run has ended. */
  outcome?: Outcome;
  failure?: FailureSummary;
}

/** The report's headline first: what an operator reads in the Web UI's result before the steps. */
export interface RecoveryReport extends Progress {
  headline: string;
  outcome: Outcome;
  workflowId: string;
  /** Start to a verified, writable cluster, without the time spent at approval gates (gateWaitMs). */
  rtoMs: number;
  endedAt: string;
  commandsRun: number;
  warnings: string[];
}

/** One line per step, for terminals and notifications. */
export function stepLine(s: StepRecord): string {
  const d = s.durationMs !== undefined ? `${(s.durationMs / 1000).toFixed(2)}s` : '';
  const extra = [s.attempts && s.attempts > 1 ? `attempts=${s.attempts}` : '', s.changed === false ? 'no change' : '', s.error ?? '']
    .filter(Boolean)
    .join(', ');
  return `${s.state.padEnd(16)} ${s.id.padEnd(32)} ${d.padStart(8)}${extra ? `  (${extra})` : ''}`;
}

/** One line: the outcome, the RTO and, when a gate waited, how long. */
export function headlineOf(r: Pick<RecoveryReport, 'cluster' | 'outcome' | 'rtoMs' | 'gateWaitMs' | 'workflowId'>): string {
  const gate = r.gateWaitMs > 0 ? ` (+ ${(r.gateWaitMs / 1000).toFixed(1)} s waiting for approval)` : '';
  const what = r.workflowId.startsWith('failover/') ? 'Failover' : 'Recovery';
  return `${what} of cluster ${r.cluster}: ${r.outcome.toUpperCase()} in ${(r.rtoMs / 1000).toFixed(2)} s${gate} (workflow ${r.workflowId})`;
}

export function renderReport(r: RecoveryReport): string {
  const lines = [r.headline ?? headlineOf(r), ...r.steps.map(stepLine)];
  const f = r as Partial<FailoverReport>;
  if (f.rpo)
    lines.splice(1, 0, `  ${f.rpo}`, `  promoted ${f.promoted} (timeline ${f.timeline}); the new topology's spec: ${f.specAfterFile}`);
  for (const s of r.steps) for (const v of s.verified) lines.push(`  verified ${v}`);
  for (const w of r.warnings ?? []) lines.push(`  WARNING ${w}`);
  return lines.join('\n');
}

/** What an operator reads first when a recovery did not complete. */
export function renderFailure(f: FailureSummary): string {
  return [
    `failed: ${f.type}${f.step ? ` at ${f.step}` : ''}${f.node ? ` on ${f.node}` : ''}`,
    `  cause: ${f.cause}`,
    `  what to do: ${f.whatToDo}`,
    ...(f.interrupted.length ? [`  interrupted: ${f.interrupted.join(', ')}`] : []),
    `  completed: ${f.completed.join(', ') || 'nothing'}`,
  ].join('\n');
}

/** Where the standby stood when it was promoted: the data-loss window, never hidden. */
export interface StandbyPosition {
  receiveLsn: string | null;
  replayLsn: string | null;
  /** Commit time of the last transaction the standby replayed (null: none since it started). */
  lastReplayedXactAt: string | null;
  /** The old primary's last LSN where it could still be read, else why not. */
  oldPrimaryLsn: string | null;
  oldPrimaryLsnSource: string;
  /** WAL known to exist (received, or on the old primary) that the standby had not replayed. */
  lagBytes: number;
  /** Age of the newest replayed transaction when WAL is known beyond it; 0 when none is. */
  lagSeconds: number;
  recordedAt: string;
}

/** A failover's report: the recovery report's fields, the RPO and the cluster as it now is. */
export interface FailoverReport extends RecoveryReport {
  promoted: string;
  /** From pg_walfile_name(pg_current_wal_lsn()) on the promoted node. */
  timeline: number;
  position: StandbyPosition;
  /** The data-loss window in words: what an operator reads. */
  rpo: string;
  /** The spec of the topology after the failover, and the file it was written to on the worker. */
  specAfter: unknown;
  specAfterFile: string;
}

/** The RPO in one sentence, from the standby's recorded position. */
export function rpoOf(p: StandbyPosition): string {
  const last = p.lastReplayedXactAt
    ? `its last replayed transaction committed at ${p.lastReplayedXactAt}`
    : 'it replayed no transaction since it started';
  if (p.oldPrimaryLsn !== null)
    return p.lagBytes === 0
      ? `RPO 0: the standby had replayed up to ${p.replayLsn}, the old primary's last known LSN ${p.oldPrimaryLsn} (${p.oldPrimaryLsnSource}); ${last}`
      : `RPO ${p.lagBytes} bytes of WAL (${p.lagSeconds} s): the standby replayed up to ${p.replayLsn}, the old primary reached ${p.oldPrimaryLsn} (${p.oldPrimaryLsnSource}); ${last}`;
  return (
    `RPO: ${p.lagBytes} bytes received but not replayed (${p.lagSeconds} s), plus whatever the old primary wrote after ${p.receiveLsn} ` +
    `and never sent (its last LSN cannot be read: ${p.oldPrimaryLsnSource}); the standby replayed up to ${p.replayLsn}; ${last}`
  );
}
