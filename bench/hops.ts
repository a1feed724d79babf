// The hops section: what one step costs Temporal itself, on a dev server with its default history
// queue poll rate (20 polls a second per shard) and with lib/server-tuning.ts. A workflow of
// empty activities runs several times in a row on each; once the queues' burst is spent (a few
// seconds of steps) the defaults cost a 50 ms tick per step.
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { startDevServer } from '../scripts/dev-server.js';
import { median } from './stats.js';

export interface HopsRun {
  tuned: boolean;
  /** Per run of the workflow: each step's time (ms), in order. */
  runs: number[][];
}

const STEPS = 20;

export async function hopsSection(runs: number, say: (l: string) => void): Promise<HopsRun[]> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./hops-workflow.ts', import.meta.url)),
    logger: { trace() {}, debug() {}, info() {}, warn: (m) => say(m), error: (m) => say(m), log() {} },
  });
  const out: HopsRun[] = [];
  for (const tuned of [false, true]) {
    const server = await startDevServer({ searchAttributes: false, tuned });
    const connection = await NativeConnection.connect({ address: server.address });
    try {
      const taskQueue = `hops-${tuned ? 'tuned' : 'default'}`;
      const worker = await Worker.create({
        connection,
        taskQueue,
        workflowBundle: { code },
        activities: { nothing: async () => {} },
      });
      const client = new Client({ connection: await Connection.connect({ address: server.address }) });
      const result: HopsRun = { tuned, runs: [] };
      await worker.runUntil(async () => {
        for (let i = 0; i < runs; i++)
          result.runs.push(
            await client.workflow.execute('emptySteps', { taskQueue, workflowId: `${taskQueue}-${i}-${Date.now()}`, args: [STEPS] }),
          );
      });
      await client.connection.close();
      say(
        `  hops (${tuned ? 'tuned' : 'default'} dev server): median ${median(result.runs.slice(1).flat())} ms a step after the first run`,
      );
      out.push(result);
    } finally {
      await connection.close();
      await server.stop();
    }
  }
  return out;
}
