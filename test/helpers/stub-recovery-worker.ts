// A worker with the real workflows and stub activities, on a real dev server: recoveries that end
// in a second, completed or failed at a chosen step, for tests about what starts them (the webhook).
// The activities touch nothing; recoveries themselves are tested against real labs elsewhere.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities/index.js';
import { TASK_QUEUE } from '../../lib/model/input.js';
import type { ClusterSpecInput } from '../../lib/model/spec.js';
import { workflowsPath } from '../../workers/create-worker.js';
import { stepResult } from './stub-runbooks.js';

export interface StubWorker {
  /** Every notifyOperators call the workflows made: [kind, cluster]. */
  notifications: [string, string][];
  stop(): Promise<void>;
}

/** A one-node postgres spec; nothing acts on it. */
export const stubSpec = (cluster: string): ClusterSpecInput => ({
  cluster,
  profile: 'postgres',
  storage: {
    image: `/nonexistent/${cluster}/shared.img`,
    diskName: `${cluster}-shared`,
    mountPoint: `/nonexistent/${cluster}/mnt`,
    dataDir: `/nonexistent/${cluster}/mnt/pgdata`,
  },
  binaries: { dir: '/usr/lib/postgresql/15', shareDir: '/usr/share/postgresql/15' },
  replication: { network: '127.0.0.1/32' },
  nodes: [
    {
      name: 'pb1',
      role: 'primary',
      host: { transport: 'local' },
      address: '127.0.0.1',
      port: 1,
      localDir: `/nonexistent/${cluster}/pb1`,
    },
  ],
});

const done = (details?: Record<string, unknown>) => stepResult(details);

/**
 * `registered`: the clusters the worker knows. A cluster in `failPreflight` fails its preflight step
 * with a non-retryable StorageMissing, as a recovery whose storage is gone does.
 */
export async function runStubWorker(
  env: TestWorkflowEnvironment,
  registered: string[],
  failPreflight: Set<string> = new Set(),
): Promise<StubWorker> {
  const notifications: [string, string][] = [];
  const ok = async () => done();
  const activities: Partial<Activities> = {
    loadRegisteredSpec: async (cluster: string) => {
      if (!registered.includes(cluster)) throw ApplicationFailure.nonRetryable(`no registered cluster named ${cluster}`, 'SpecInvalid');
      return stubSpec(cluster);
    },
    checkRunbooks: ok,
    fence: async () => done({ proven: true, answering: [], evidence: [] }),
    preflight: async (spec) => {
      if (failPreflight.has(spec.cluster))
        throw ApplicationFailure.nonRetryable(`storage image ${spec.storage.image} does not exist`, 'StorageMissing');
      return done();
    },
    attachStorage: ok,
    startStorageDaemon: ok,
    prepareBinaries: ok,
    prepareTemplates: ok,
    buildNode: ok,
    startNode: ok,
    validateSlots: async () => done({ missing: [] }),
    waitStreaming: ok,
    verifyData: ok,
    notifyOperators: async (e) => void notifications.push([e.kind, e.cluster]),
  };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowsPath, activities });
  const running = worker.run();
  return {
    notifications,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}
