// The worker process: runs recoverCluster and its activities on task queue polar-runbook.
//   Temporal: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE,
//   TEMPORAL_CONFIG_FILE (client/temporal-config.ts); POLAR_CLUSTERS_DIR (registered specs), POLAR_COMMAND_LOG,
//   POLAR_NOTIFY_URLS_FILE (one URL a line: where recovery events are posted),
//   POLAR_DRILL_HISTORY (drill results, JSONL), POLAR_DRILL_ROOT (where drill sandboxes go)
import { existsSync, readFileSync } from 'node:fs';
import { NativeConnection } from '@temporalio/worker';
import { readSpecDir } from '../lib/spec-file.js';
import { describeSettings, temporalSettings } from '../client/temporal-config.js';
import { createWorker, workflowBundleFile } from './create-worker.js';
import { ensureSearchAttributes, SearchAttributesError } from './search-attributes.js';

const registered = process.env.POLAR_CLUSTERS_DIR ? readSpecDir(process.env.POLAR_CLUSTERS_DIR) : undefined;
if (registered) console.log(`registered clusters: ${[...registered.keys()].join(', ') || 'none'}`);
const notifyFile = process.env.POLAR_NOTIFY_URLS_FILE;
const notifyUrls = notifyFile
  ? readFileSync(notifyFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
  : [];
const settings = temporalSettings();
let connection: NativeConnection;
try {
  connection = await NativeConnection.connect({
    address: settings.address,
    tls: settings.tls,
    apiKey: settings.apiKey,
    metadata: settings.metadata,
  });
} catch (err) {
  console.error(`worker: cannot reach Temporal at ${describeSettings(settings)}: ${(err as Error).message}`);
  process.exit(1);
}
try {
  const sa = await ensureSearchAttributes(connection.operatorService, settings.namespace, { address: settings.address });
  if (sa.registered.length) console.log(`registered search attributes ${sa.registered.join(', ')} in namespace ${settings.namespace}`);
} catch (err) {
  console.error(`worker: ${err instanceof SearchAttributesError ? err.message : (err as Error).message}`);
  await connection.close();
  process.exit(1);
}
const worker = await createWorker({
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
console.log(`worker ${process.pid} polling task queue ${worker.options.taskQueue} on ${describeSettings(settings)}`);
await worker.run();
await connection.close();
