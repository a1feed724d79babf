// startStorageDaemon: the disk's data readable on a host, and proven there (lib/steps/storage-daemon.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import type { Which } from '../lib/storage.js';
import { startStorageDaemon } from '../lib/steps/storage-daemon.js';
import { step, type ActivityDeps } from './context.js';

export const createStorageDaemonActivities = (deps: ActivityDeps) => ({
  startStorageDaemon: (spec: ClusterSpec, nodeName: string, which: Which) =>
    step(deps, (s) => startStorageDaemon(s, spec, nodeName, which)),
});
