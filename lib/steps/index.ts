// The runbooks' steps as library functions: each takes a StepEnv (env.ts), reports into its
// journal and returns its typed details. activities/ runs them as Temporal activities; the raw
// benchmark and the tests run them directly (runStep).
export { runStep, stepResult, type ResultOf, type StepEnv } from './env.js';
export { prepareBinaries, prepareTemplates } from './binaries.js';
export { recordDrill, reserveSandbox, snapshotStorage, teardownSandbox } from './drill.js';
export { fenceForFailover, promote, recordPosition, verifyFailover, writeFailoverSpec } from './failover.js';
export { fence } from './fence.js';
export { buildNode, startNode } from './node.js';
export { preflight } from './preflight.js';
export { provisionHost } from './provision.js';
export { validateSlots, waitStreaming } from './replication.js';
export { startStorageDaemon } from './storage-daemon.js';
export { attachStorage } from './storage.js';
export { verifyData } from './verify.js';
