// Keeps every activity heartbeating while it runs, so a killed worker is noticed within the
// heartbeat timeout (seconds), not the step's start-to-close timeout (hours), and a cancellation
// reaches the activity; and hands the workflow only typed failures.
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { typedFailure } from '../activities/failures.js';

export class HeartbeatInterceptor implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly everyMs = 1000,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const timer = setInterval(() => this.ctx.heartbeat(), this.everyMs);
    try {
      return await next(input);
    } catch (err) {
      throw typedFailure(err, this.ctx.cancellationSignal.aborted);
    } finally {
      clearInterval(timer);
    }
  }
}
