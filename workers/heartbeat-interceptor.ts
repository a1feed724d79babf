// Keeps every activity heartbeating while it runs, so a killed worker is noticed within the
// heartbeat timeout (seconds), not the step's start-to-close timeout (hours).
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';

export class HeartbeatInterceptor implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly everyMs = 1000,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const timer = setInterval(() => this.ctx.heartbeat(), this.everyMs);
    try {
      return await next(input);
    } finally {
      clearInterval(timer);
    }
  }
}
