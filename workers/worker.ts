// The worker process: runs recoverCluster and its activities on task queue polar-runbook.
//   Temporal: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE,
//   TEMPORAL_CONFIG_FILE (client/temporal-config.ts); POLAR_CLUSTERS_DIR (registered specs), POLAR_COMMAND_LOG,
//   POLAR_NOTIFY_URLS_FILE (one URL a line: where recovery events are posted),
//   POLAR_DRILL_HISTORY (drill results, JSONL), POLAR_DRILL_ROOT (where drill sandboxes go),
//   POLAR_COMPILE_CACHE (off, or the code cache's file; workers/compile-cache.ts)
// First: every CommonJS module loaded after it compiles from the code cache (workers/compile-cache.ts).
import { compileCacheStats, saveCompileCache } from './compile-cache.js';
import { existsSync, readFileSync } from 'node:fs';
import { NativeConnection } from '@temporalio/worker';
import { describeSettings, temporalSettings } from '../client/temporal-config.js';
import { ensureSearchAttributes, SearchAttributesError } from './search-attributes.js';

const settings = temporalSettings();
// The connection is made by the SDK's core on threads of its own: it proceeds while this thread
// loads the activities' modules below (a replacement worker's start is what a resume waits for).
const connecting = NativeConnection.connect({
  address: settings.address,
  tls: settings.tls,
  apiKey: settings.apiKey,
  metadata: settings.metadata,
});
connecting.catch(() => {}); // awaited below, after the imports
const { createWorker, workflowBundleFile } = await import('./create-worker.js');
// Registered specs are read (and checked) before the worker polls: a bad one stops it here.
const registered = process.env.POLAR_CLUSTERS_DIR
  ? (await import('../lib/spec-file.js')).readSpecDir(process.env.POLAR_CLUSTERS_DIR)
  : undefined;
if (registered) console.log(`registered clusters: ${[...registered.keys()].join(', ') || 'none'}`);
const notifyFile = process.env.POLAR_NOTIFY_URLS_FILE;
const notifyUrls = notifyFile
  ? readFileSync(notifyFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
  : [];
let connection: NativeConnection;
try {
  connection = await connecting;
} catch (err) {
  console.error(`worker: cannot reach Temporal at ${describeSettings(settings)}: ${(err as Error).message}`);
  process.exit(1);
}
// Created (the workflow bundle loaded) while the search attributes are checked; it runs only once they are there.
const creating = createWorker({
  connection,
  namespace: settings.namespace,
  commandLog: process.env.POLAR_COMMAND_LOG,
  registered,
  notifyUrls,
  drillHistory: process.env.POLAR_DRILL_HISTORY,
  drillRoot: process.env.POLAR_DRILL_ROOT,
  // Compiled (`npm run build`, node dist/workers/worker.js): the prebuilt bundle, no bundling at start.
  ...(import.meta.url.endsWith('.js') && existsSync(workflowBundleFile) ? { workflowBundlePath: workflowBundleFile } : {}),
});
creating.catch(() => {}); // awaited below, after the check
try {
  const sa = await ensureSearchAttributes(connection.operatorService, settings.namespace, { address: settings.address });
  if (sa.registered.length) console.log(`registered search attributes ${sa.registered.join(', ')} in namespace ${settings.namespace}`);
} catch (err) {
  console.error(`worker: ${err instanceof SearchAttributesError ? err.message : (err as Error).message}`);
  await connection.close();
  process.exit(1);
}
const worker = await creating;
// run() starts the pollers at once (state RUNNING): from here the worker takes tasks. The time is
// since the process started (node's own start included): the bench's cold start reads it.
const running = worker.run();
const cache = compileCacheStats();
console.log(
  `worker ${process.pid} polling task queue ${worker.options.taskQueue} on ${describeSettings(settings)} ` +
    (cache.enabled ? `(compile cache: ${cache.fromCache} of ${cache.modules} modules) ` : '') +
    `(${Math.round(performance.now())} ms after the process started)`,
);
// A start that compiled modules the cache lacked (the first after a build that could not warm it)
// writes it, once, after the first tasks had the thread.
setTimeout(() => {
  const saved = saveCompileCache();
  if (saved.written) console.log(`compile cache written (${saved.modules} modules)`);
}, 5000).unref();
await running;
await connection.close();
