// What every activity module receives: its dependencies, and a way to open a step's journal.
import type { ClusterSpecInput, NodeSpec } from '../lib/model/spec.js';
import type { Detailed, StepResult } from '../lib/model/report.js';
import type { Host } from '../lib/hosts/types.js';
import { Journal } from '../lib/ops.js';
import { attemptNo, cancellation, heartbeat, sleep } from './heartbeat.js';

/** The host, with every command it runs tied to the current activity's cancellation. */
export const cancellable = (host: Host): Host => ({
  name: host.name,
  dbUser: host.dbUser,
  run: (cmd) => host.run({ ...cmd, signal: cmd.signal ?? cancellation() }),
});

export interface ActivityDeps {
  hostFor(node: NodeSpec): Host;
  /** Every command that acts on a host, as it runs (the worker's command log). */
  onCommand?: (host: string, command: string) => void;
  /** Specs the worker loaded from its clusters dir, by cluster name. */
  registered?: Map<string, ClusterSpecInput>;
  /** Where recovery events are posted (Slack-compatible webhooks). */
  notifyUrls?: string[];
  /** Drills: the JSONL file each drill's result is appended to (default POLAR_DRILL_HISTORY, then /var/lib/polar-runbook/drill-history.jsonl). */
  drillHistoryFile?: string;
  /** Drills: where sandboxes go when the spec names no drill.sandboxRoot (default POLAR_DRILL_ROOT, then /var/lib/polar-runbook/drills). */
  drillRoot?: string;
  /** Failovers: where the new topology's spec is written (default POLAR_FAILOVER_DIR, then /var/lib/polar-runbook/failovers). */
  failoverDir?: string;
}

/** A step's journal; the library reports progress through it as this activity's heartbeat, and waits cancellably. */
export const journalOf = (deps: ActivityDeps): Journal => new Journal(deps.onCommand, { beat: heartbeat, sleep });

/** A step's result from its journal; `details` typed per step (lib/model/report.ts). */
export function resultOf(j: Journal): StepResult;
export function resultOf<D>(j: Journal, details: D): Detailed<D>;
export function resultOf<D>(j: Journal, details?: D): StepResult | Detailed<D> {
  return {
    changed: j.changed,
    commands: j.commands,
    skipped: j.skipped,
    verified: j.verified,
    ...(j.warnings.length ? { warnings: j.warnings } : {}),
    attempt: attemptNo(),
    ...(details ? { details } : {}),
  } as StepResult | Detailed<D>;
}
