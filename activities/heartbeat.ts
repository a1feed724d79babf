// Heartbeat details from inside an activity. (The worker's interceptor keeps every activity
// heartbeating; these add what an activity is waiting for.)
import type { Context } from '@temporalio/activity';

// The details an activity last gave, so the worker's keep-alive heartbeat repeats them instead of
// replacing them with nothing (the server keeps only the last heartbeat's details).
const lastDetails = new WeakMap<Context, unknown>();

export function heartbeat(ctx: Context, details?: unknown): void {
  if (details !== undefined) lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

/** What the activity running in `ctx` last heartbeated (undefined: nothing yet). */
export const lastHeartbeatDetails = (ctx: Context): unknown => lastDetails.get(ctx);
