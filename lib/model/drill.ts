// DR drills: what starts one, what it proves, and how it is recorded. Pure (the drill workflow,
// the activities, the CLI and the schedules all import it).
import type { FailoverReport, RecoveryReport, StepTiming } from './report.js';
import type { ClusterSpecInput } from './spec.js';
import type { Trigger } from './input.js';

export interface DrillInput {
  /** The production cluster's spec inline, or `cluster`: a cluster registered with the worker. */
  spec?: ClusterSpecInput;
  cluster?: string;
  /** Leave the sandbox (its copies, mounts and running instances) in place for inspection. */
  keepSandbox?: boolean;
  trigger?: Trigger;
  /**
   * A drill of the second disaster: the copies of the shared disk and of the standby's disk (and
   * its local dir) go into the sandbox, the sandbox standby is started on its copy, and a child
   * failoverToStandby promotes it and rebuilds the read-only nodes there (the spec needs its
   * failover section). Production is never touched, as in any drill.
   */
  failover?: boolean;
}

/** One drill per cluster at a time: a manual drill runs under this id. */
export const drillWorkflowId = (cluster: string): string => `drill/${cluster}`;
/** A schedule's id; the drills it starts get `drill/<cluster>-<scheduled time>` (the server appends the time). */
export const drillScheduleId = (cluster: string): string => `drill/${cluster}`;

const SCHEDULED_SUFFIX = /^-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * The ids a drill of `cluster` may run under: `drill/<cluster>`, or that plus the time a schedule
 * appends. (Cluster names never hold an upper-case T or a colon, so no other cluster's id matches.)
 */
export function isDrillWorkflowIdOf(cluster: string, workflowId: string): boolean {
  const base = drillWorkflowId(cluster);
  if (workflowId === base) return true;
  return workflowId.startsWith(base) && SCHEDULED_SUFFIX.test(workflowId.slice(base.length));
}

/** A drill started by a schedule runs under an id with the scheduled time appended. */
export const isScheduledDrillId = (cluster: string, workflowId: string): boolean =>
  workflowId !== drillWorkflowId(cluster) && isDrillWorkflowIdOf(cluster, workflowId);

export interface DrillStep extends StepTiming {
  name:
    | 'checkIdle'
    | 'reserveSandbox'
    | 'snapshotStorage'
    | 'recoverSandbox'
    | 'startSandboxStandby'
    | 'failoverSandbox'
    | 'teardownSandbox'
    | 'recordDrill';
  details?: Record<string, unknown>;
}

export interface DrillResult {
  cluster: string;
  workflowId: string;
  runId: string;
  trigger: Trigger;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /**
   * recovered: a copy of the storage was brought back by recoverCluster and verified; refused: the
   * drill did not start its copy because a recovery or another drill of the cluster was running;
   * failed-over (a failover drill): the sandbox standby was promoted and its read-only nodes rebuilt.
   */
  outcome: 'recovered' | 'failed-over' | 'failed' | 'refused';
  /** The recovery time the child recovery (or failover) measured on the copy (its report's rtoMs). */
  rtoMs?: number;
  sandbox?: { cluster: string; dir: string; kept: boolean };
  recovery?: {
    workflowId: string;
    outcome: RecoveryReport['outcome'];
    rtoMs: number;
    commandsRun: number;
    steps: { id: string; state: string; durationMs?: number }[];
  };
  /** A failover drill: the child failoverToStandby on the copy. */
  failover?: {
    workflowId: string;
    outcome: FailoverReport['outcome'];
    rtoMs: number;
    rpo: string;
    promoted: string;
    commandsRun: number;
    steps: { id: string; state: string; durationMs?: number }[];
  };
  /** How the copy was taken (drill.copyMethod: fsfreeze, pfsd-freeze, snapshot-command). */
  copyMethod?: string;
  /** The drill's own steps, with their timings. */
  steps: DrillStep[];
  error?: string;
  errorType?: string;
}

/** Failure types of a drill, with what to do about them. */
export const DrillFailureTypes = {
  RecoveryRunning: 'a real recovery of this cluster is running: a drill never runs beside it; try again once it is over',
  DrillRunning: 'another drill of this cluster is running: wait for it',
  SnapshotUnsupported:
    'give drill.copyMethod pfsd-freeze (polardb on image files) or drill.snapshotCommand (an LVM/SAN/cloud snapshot of all the disks at one instant, written to {target})',
  SnapshotFailed: 'the copy of the storage could not be taken; production was unfrozen and left as it was',
  SandboxConflict: 'the sandbox path is taken by something the drill did not create: it was left alone',
  SandboxTeardownFailed: 'the sandbox could not be removed completely: see the error, then remove it by hand',
  DrillFailed: 'the copy could not be recovered: read the recovery error, the same would happen in a real disaster',
} as const;

/** The failure types with which a drill declines to run (nothing was copied or recovered). */
export const DRILL_REFUSALS: readonly string[] = ['RecoveryRunning', 'DrillRunning'];

/** The result as the history records it: a drill that declined to run is `refused`, not `failed`. */
export const asRecorded = (r: DrillResult): DrillResult =>
  r.outcome === 'failed' && r.errorType && DRILL_REFUSALS.includes(r.errorType) ? { ...r, outcome: 'refused' } : r;

export const DEFAULT_SANDBOX_ROOT = '/var/lib/polar-runbook/drills';
export const DEFAULT_DRILL_HISTORY = '/var/lib/polar-runbook/drill-history.jsonl';
/** Written first into a sandbox dir: teardown removes only dirs that carry it. */
export const DRILL_MARKER = '.polar-drill';

export function renderDrillResult(r: DrillResult): string {
  const secs = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const lines = [
    `Drill of cluster ${r.cluster}: ${r.outcome.toUpperCase()}${r.rtoMs !== undefined ? `, RTO ${secs(r.rtoMs)}` : ''} (drill ${secs(r.durationMs)}, workflow ${r.workflowId})`,
  ];
  if (r.copyMethod) lines.push(`  copy method: ${r.copyMethod}`);
  if (r.sandbox)
    lines.push(
      `  sandbox ${r.sandbox.cluster} at ${r.sandbox.dir}${r.sandbox.kept ? ` (kept: polar-runbook drill teardown ${r.sandbox.dir})` : ' (removed)'}`,
    );
  for (const s of r.steps)
    lines.push(`  ${s.state.padEnd(7)} ${s.name.padEnd(18)} ${secs(s.durationMs).padStart(9)}${s.error ? `  (${s.error})` : ''}`);
  if (r.recovery) {
    lines.push(
      `  recovery ${r.recovery.workflowId}: ${r.recovery.outcome} in ${secs(r.recovery.rtoMs)}, ${r.recovery.commandsRun} commands`,
    );
    for (const s of r.recovery.steps) lines.push(`    ${s.state.padEnd(7)} ${s.id.padEnd(30)} ${secs(s.durationMs).padStart(9)}`);
  }
  if (r.failover) {
    lines.push(
      `  failover ${r.failover.workflowId}: ${r.failover.outcome} in ${secs(r.failover.rtoMs)}, promoted ${r.failover.promoted}, ${r.failover.commandsRun} commands`,
      `    ${r.failover.rpo}`,
    );
    for (const s of r.failover.steps) lines.push(`    ${s.state.padEnd(7)} ${s.id.padEnd(30)} ${secs(s.durationMs).padStart(9)}`);
  }
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines.join('\n');
}
