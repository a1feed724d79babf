// Heartbeat details and attempt numbers from inside an activity. (The worker's interceptor keeps
// every activity heartbeating; these add what an activity is waiting for.)
import { Context } from '@temporalio/activity';

function context(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (the lab, a benchmark's raw script)
  }
}

export function heartbeat(details?: unknown): void {
  context()?.heartbeat(details);
}

export const attemptNo = (): number => context()?.info.attempt ?? 1;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
