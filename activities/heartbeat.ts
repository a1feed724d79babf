// Heartbeat details and attempt numbers from inside an activity. (The worker's interceptor keeps
// every activity heartbeating; these add what an activity is waiting for.)
import { Context } from '@temporalio/activity';

function context(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // an activity called directly, without Temporal (bench/raw.ts, tests)
  }
}

// The details an activity last gave, so the worker's keep-alive heartbeat repeats them instead of
// replacing them with nothing (the server keeps only the last heartbeat's details).
const lastDetails = new WeakMap<Context, unknown>();

export function heartbeat(details?: unknown): void {
  const ctx = context();
  if (!ctx) return;
  if (details !== undefined) lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

/** What the activity running in `ctx` last heartbeated (undefined: nothing yet). */
export const lastHeartbeatDetails = (ctx: Context): unknown => lastDetails.get(ctx);

export const attemptNo = (): number => context()?.info.attempt ?? 1;

/** When the activity's first attempt was scheduled (now, outside an activity): retries measure from it. */
export const firstScheduledMs = (): number => context()?.info.scheduledTimestampMs ?? Date.now();

/** The activity's cancellation (never aborted outside an activity). */
export const cancellation = (): AbortSignal | undefined => context()?.cancellationSignal;

/** Sleeps; inside an activity a cancellation ends the sleep (it throws CancelledFailure). */
export const sleep = (ms: number): Promise<void> => context()?.sleep(ms) ?? new Promise((r) => setTimeout(r, ms));
