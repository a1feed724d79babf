// `npm run build`, second half: the workflow code bundled once, at build time, into
// dist/workflow-bundle.js. The compiled worker (dist/workers/worker.js) loads it instead of
// bundling at every start (seconds on a loaded machine, before the worker polls).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundleFile, workflowsPath } from '../workers/create-worker.js';

const t0 = Date.now();
// The source map keeps its mappings (stack traces name our files and lines) but not the sources'
// text, which only the enhanced stack trace query sends, and only with showStackTraceSources (off):
// half the bundle, which every worker start decodes and parses (about 30 ms).
const { code } = await bundleWorkflowCode({
  workflowsPath,
  webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
});
writeFileSync(workflowBundleFile, code);
console.log(
  `workflow bundle: ${fileURLToPath(new URL(`file://${workflowBundleFile}`))} (${Math.round(code.length / 1024)} KiB, ${Date.now() - t0} ms)`,
);
