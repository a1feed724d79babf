// Workflow tests with stub activities: the real workflows on a real dev server, a worker on a task
// queue of the test's own, the lab's example spec under the test's cluster names.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import YAML from 'yaml';
import type { Activities } from '../../activities/index.js';
import type { Detailed } from '../../lib/model/report.js';
import type { ClusterSpecInput } from '../../lib/model/spec.js';
import { workflowsPath } from '../../workers/create-worker.js';
import { startTemporal } from './temporal.js';

/** Any step's result (`any`: a stub stands for steps of every detail type). */
export const stepResult = (details?: Record<string, unknown>, changed = true): Detailed<any> => ({
  changed,
  commands: [],
  skipped: [],
  verified: [],
  attempt: 1,
  details,
});

/** The lab's example spec as cluster `cluster`. */
export const labSpecAs = (cluster: string, more: Partial<ClusterSpecInput> = {}): ClusterSpecInput => ({
  ...(YAML.parse(readFileSync('examples/lab-cluster.yaml', 'utf8')) as ClusterSpecInput),
  cluster,
  ...more,
});

/** Starts the dev server and a worker running `activities` before the file's tests; stops both after. */
export function stubRunbooks(name: string, activities: Partial<Activities>) {
  const queue = `${name}-${randomBytes(3).toString('hex')}`;
  let env: TestWorkflowEnvironment | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  before(async () => {
    env = await startTemporal();
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue: queue, workflowsPath, activities });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });
  return {
    queue,
    client: () => env!.client,
    recover: (spec: ClusterSpecInput) =>
      env!.client.workflow.start('recoverCluster', {
        taskQueue: queue,
        workflowId: `recover/${spec.cluster}`,
        args: [{ spec, trigger: 'test' }],
      }),
  };
}
