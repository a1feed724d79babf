// A real worker on a real dev server, for tests; stopped by the test's cleanup.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createWorker, type WorkerOptions } from '../../workers/create-worker.js';

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

export async function runWorker(env: TestWorkflowEnvironment, o: Partial<WorkerOptions> = {}): Promise<RunningWorker> {
  const worker = await createWorker({ connection: env.nativeConnection, ...o });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** The failure type at the bottom of a workflow failure's cause chain. */
export function failureType(err: unknown): string | undefined {
  let e = err as { cause?: unknown; type?: string } | undefined;
  let type: string | undefined;
  while (e) {
    if (typeof e.type === 'string') type = e.type;
    e = e.cause as typeof e;
  }
  return type;
}
