// The hops section's workflow: empty activities one after another, each timed from the workflow
// (scheduled -> its result seen), so the time is Temporal's own: no host, no step body.
import { proxyActivities } from '@temporalio/workflow';

const { nothing } = proxyActivities<{ nothing(): Promise<void> }>({ startToCloseTimeout: '10s' });

export async function emptySteps(count: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = Date.now();
    await nothing();
    ms.push(Date.now() - t);
  }
  return ms;
}
