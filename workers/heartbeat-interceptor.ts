// Keeps every activity heartbeating while it runs, so a killed worker is noticed within the
// heartbeat timeout (seconds), not the step's start-to-close timeout (hours), and a cancellation
// reaches the activity; and hands the workflow only typed failures.
import type { Context } from '@temporalio/activity';
import { lastHeartbeatDetails } from '../activities/heartbeat.js';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { typedFailure } from '../activities/typed-failure.js';

export class HeartbeatInterceptor implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly everyMs = 1000,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    // Repeats the activity's last details (clone progress, what a wait waits for) rather than none.
    const timer = setInterval(() => this.ctx.heartbeat(lastHeartbeatDetails(this.ctx)), this.everyMs);
    try {
      return await next(input);
    } catch (err) {
      throw typedFailure(err, this.ctx.cancellationSignal.aborted);
    } finally {
      clearInterval(timer);
    }
  }
}
