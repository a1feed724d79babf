// `npm run build`, last step: loads what the compiled worker loads before it polls, through the
// compile cache (workers/compile-cache.ts), and writes the cache into dist/, so the first worker
// started from a fresh build or image (where dist/ may be read-only) starts as fast as the next.
// What this misses, a worker adds on its first start when it can write there.
import { compileCacheFile, saveCompileCache } from '../workers/compile-cache.js';

await import('@temporalio/worker');
await import('../client/temporal-config.js');
await import('../workers/search-attributes.js');
await import('../workers/create-worker.js');
await import('../lib/spec-file.js');
await import('../activities/index.js'); // loaded once the worker polls (create-worker.ts)
const r = saveCompileCache();
if (!r.written) throw new Error(`compile cache ${compileCacheFile} not written: ${r.reason}`);
console.log(`compile cache: ${compileCacheFile} (${r.modules} modules)`);
