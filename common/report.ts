// The progress model and the RecoveryReport: what every trigger (UI, CLI, webhook, drill) reads.

export type StepName =
  | 'preflight'
  | 'fence'
  | 'attachStorage'
  | 'startStorageDaemon'
  | 'prepareBinaries'
  | 'buildNode'
  | 'startNode'
  | 'validateSlots'
  | 'waitStreaming'
  | 'rebuildReplica'
  | 'verifyData';

/** What an activity hands back: the report's raw material. Never holds a secret. */
export interface StepResult {
  changed: boolean;
  commands: string[];
  skipped: string[];
  verified: string[];
  attempt: number;
  details?: Record<string, unknown>;
}

export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'waiting-approval' | 'skipped';

export interface StepRecord {
  id: string; // e.g. "startNode:pb1"
  step: StepName;
  node?: string;
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  attempts?: number;
  changed?: boolean;
  commands: string[];
  skipped: string[];
  verified: string[];
  error?: string;
  details?: Record<string, unknown>;
}

export interface Progress {
  cluster: string;
  phase: string;
  steps: StepRecord[];
  waitingFor?: { gate: string; evidence: string[] };
  startedAt: string;
}

export interface RecoveryReport extends Progress {
  workflowId: string;
  outcome: 'recovered' | 'already-healthy' | 'failed' | 'aborted';
  endedAt: string;
  rtoMs: number;
  commandsRun: number;
}

/** One line per step, for terminals and notifications. */
export function stepLine(s: StepRecord): string {
  const d = s.durationMs !== undefined ? `${(s.durationMs / 1000).toFixed(2)}s` : '';
  const extra = [s.attempts && s.attempts > 1 ? `attempts=${s.attempts}` : '', s.changed === false ? 'no change' : '', s.error ?? '']
    .filter(Boolean)
    .join(', ');
  return `${s.state.padEnd(16)} ${s.id.padEnd(32)} ${d.padStart(8)}${extra ? `  (${extra})` : ''}`;
}

export function renderReport(r: RecoveryReport): string {
  const lines = [
    `Recovery of cluster ${r.cluster}: ${r.outcome.toUpperCase()} in ${(r.rtoMs / 1000).toFixed(2)} s (workflow ${r.workflowId})`,
    ...r.steps.map(stepLine),
  ];
  for (const s of r.steps) for (const v of s.verified) lines.push(`  verified ${v}`);
  return lines.join('\n');
}
