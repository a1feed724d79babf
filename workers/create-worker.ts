// Builds the worker that runs polar-runbook's workflows and activities on task queue
// `polar-runbook`. Used by the worker process, the demo and the tests.
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../activities/index.js';
import { hostFor } from '../lib/hosts/index.js';
import { TASK_QUEUE } from '../lib/model/input.js';
import type { ClusterSpecInput } from '../lib/model/spec.js';
import { HeartbeatInterceptor } from './heartbeat-interceptor.js';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** JSONL file: one line per command that acted on a host. */
  commandLog?: string;
  registered?: Map<string, ClusterSpecInput>;
  notifyUrls?: string[];
  /** Drills: the JSONL file drill results are appended to. */
  drillHistory?: string;
  /** Drills: where sandboxes go unless a spec says drill.sandboxRoot. */
  drillRoot?: string;
  /** A prebuilt workflow bundle (`npm run build`): no bundling at start. Else the sources are bundled. */
  workflowBundlePath?: string;
}

/** The workflows' entry: the TypeScript sources (tsx, tests), or their compiled copy in dist/. */
const compiled = import.meta.url.endsWith('.js');
export const workflowsPath = fileURLToPath(new URL(`../workflows/index.${compiled ? 'js' : 'ts'}`, import.meta.url));

/** The prebuilt workflow bundle `npm run build` writes (dist/workflow-bundle.js). */
export const workflowBundleFile = fileURLToPath(
  new URL(compiled ? '../workflow-bundle.js' : '../dist/workflow-bundle.js', import.meta.url),
);

/** Every activity's name, checked against the activities themselves (a name missing or extra does not compile). */
const ACTIVITY_NAMES = {
  ...{ loadRegisteredSpec: 1, checkRunbooks: 1, fence: 1, provisionHost: 1, preflight: 1, attachStorage: 1 },
  ...{ startStorageDaemon: 1, prepareBinaries: 1, prepareTemplates: 1, buildNode: 1, startNode: 1, validateSlots: 1 },
  ...{ waitStreaming: 1, verifyData: 1, notifyOperators: 1, checkIdle: 1, reserveSandbox: 1, snapshotStorage: 1 },
  ...{ teardownSandbox: 1, recordDrill: 1, fenceForFailover: 1, recordPosition: 1, promote: 1, verifyFailover: 1 },
  ...{ writeFailoverSpec: 1 },
} as const satisfies Record<keyof Activities, 1>;

export async function createWorker(o: WorkerOptions): Promise<Worker> {
  const onCommand = o.commandLog
    ? (host: string, command: string) =>
        appendFileSync(o.commandLog!, JSON.stringify({ at: new Date().toISOString(), pid: process.pid, host, command }) + '\n')
    : undefined;
  // The activities' code (every step, the profiles, pg, zod, yaml: about a fifth of a worker's
  // start) loads once the worker polls: workflow tasks need none of it, and an activity task that
  // comes first waits for the load already under way. A load that fails stops the worker.
  let loading: Promise<Activities> | undefined;
  const load = () =>
    (loading ??= import('../activities/index.js').then(({ createActivities }) =>
      createActivities({
        hostFor,
        onCommand,
        registered: o.registered,
        notifyUrls: o.notifyUrls,
        drillHistoryFile: o.drillHistory,
        drillRoot: o.drillRoot,
      }),
    ));
  const activities = Object.fromEntries(
    Object.keys(ACTIVITY_NAMES).map((name) => [
      name,
      async (...args: unknown[]) => ((await load())[name as keyof Activities] as (...a: unknown[]) => unknown)(...args),
    ]),
  );
  const worker = await Worker.create({
    connection: o.connection,
    namespace: o.namespace ?? 'default',
    taskQueue: o.taskQueue ?? TASK_QUEUE,
    ...(o.workflowBundlePath ? { workflowBundle: { codePath: o.workflowBundlePath } } : { workflowsPath }),
    activities,
    interceptors: { activity: [(ctx) => ({ inbound: new HeartbeatInterceptor(ctx) })] },
    // A worker that died holds its sticky workflow tasks only this long before another takes them.
    stickyQueueScheduleToStartTimeout: '1s',
    // Heartbeats reach the server each second: heartbeat details (clone progress, waits) for
    // `follow` and the Web UI, and an abort reaches a running step that fast.
    maxHeartbeatThrottleInterval: '1s',
    // Nodes are rebuilt in parallel; every activity mostly waits on a host or a database.
    maxConcurrentActivityTaskExecutions: 64,
    // Workflows run in this thread's reusable V8 context rather than in a worker thread of their
    // own, which loads the SDK and the protos a second time: about 0.5 s of CPU at every start,
    // before the worker can poll (the cold start a killed worker's replacement pays). The runbook's
    // workflow code is a few milliseconds per task beside activities that wait on hosts, so
    // sharing the event loop costs nothing measurable. The SDK calls this debugMode, which also
    // lifts the deadlock guard (a workflow task stuck in a loop would now stall the activities
    // too): the guard is set back to the threaded default, through an option the SDK applies but
    // does not type.
    debugMode: true,
    ...({ isolateExecutionTimeout: '5s' } as object),
  });
  // A turn of the event loop after this returns: the caller's run(), made as it resumes from its
  // await, comes first, and the pollers start before the load takes the thread.
  setImmediate(() =>
    load().catch((err: Error) => {
      console.error(`worker: the activities' code did not load, the worker stops: ${err.stack ?? err.message}`);
      if (worker.getState() === 'RUNNING') worker.shutdown();
    }),
  );
  return worker;
}
