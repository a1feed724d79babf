// The worker process: runs recoverCluster and its activities on task queue polar-runbook.
//   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, POLAR_CLUSTERS_DIR (registered specs), POLAR_COMMAND_LOG,
//   POLAR_NOTIFY_URLS_FILE (one URL a line: where recovery events are posted),
//   POLAR_DRILL_HISTORY (drill results, JSONL), POLAR_DRILL_ROOT (where drill sandboxes go)
import { existsSync, readFileSync } from 'node:fs';
import { NativeConnection } from '@temporalio/worker';
import { readSpecDir } from '../client/spec-file.js';
import { createWorker, workflowBundleFile } from './create-worker.js';

const registered = process.env.POLAR_CLUSTERS_DIR ? readSpecDir(process.env.POLAR_CLUSTERS_DIR) : undefined;
if (registered) console.log(`registered clusters: ${[...registered.keys()].join(', ') || 'none'}`);
const notifyFile = process.env.POLAR_NOTIFY_URLS_FILE;
const notifyUrls = notifyFile
  ? readFileSync(notifyFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
  : [];
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
const worker = await createWorker({
  connection,
  namespace: process.env.TEMPORAL_NAMESPACE,
  commandLog: process.env.POLAR_COMMAND_LOG,
  registered,
  notifyUrls,
  drillHistory: process.env.POLAR_DRILL_HISTORY,
  drillRoot: process.env.POLAR_DRILL_ROOT,
  // Compiled (`npm run build`, node dist/workers/worker.js): the prebuilt bundle, no bundling at start.
  ...(import.meta.url.endsWith('.js') && existsSync(workflowBundleFile) ? { workflowBundlePath: workflowBundleFile } : {}),
});
console.log(`worker ${process.pid} polling task queue ${worker.options.taskQueue}`);
await worker.run();
await connection.close();
