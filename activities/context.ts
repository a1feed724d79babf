// What every activity module receives (its dependencies), and the one adapter every step
// activity goes through: the Temporal context in (heartbeats, cancellation, attempt, when the
// first attempt was scheduled), the library's step called, its typed result out. Failures are
// typed by the worker's interceptor (typed-failure.ts).
import { Context } from '@temporalio/activity';
import type { ClusterSpecInput, NodeSpec } from '../lib/model/spec.js';
import type { Host } from '../lib/hosts/types.js';
import { Journal } from '../lib/ops.js';
import { stepResult, type ResultOf, type StepEnv } from '../lib/steps/env.js';
import { heartbeat } from './heartbeat.js';

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

/** The host, with every command it runs ended by the activity's cancellation. */
const cancellable = (host: Host, signal: AbortSignal): Host => ({
  name: host.name,
  dbUser: host.dbUser,
  run: (cmd) => host.run({ ...cmd, signal: cmd.signal ?? signal }),
});

/** Runs a library step as this activity: its progress is the heartbeat, its waits end when the activity is cancelled. */
export async function step<D>(deps: ActivityDeps, run: (s: StepEnv) => Promise<D>): Promise<ResultOf<D>> {
  const ctx = Context.current();
  const s: StepEnv = {
    hostFor: (node) => cancellable(deps.hostFor(node), ctx.cancellationSignal),
    j: new Journal(deps.onCommand, { beat: (details) => heartbeat(ctx, details), sleep: (ms) => ctx.sleep(ms) }),
    sinceMs: ctx.info.scheduledTimestampMs,
  };
  const details = await run(s);
  return stepResult(s.j, ctx.info.attempt, details);
}
