// attachStorage: the disk bound and named on its node's host (lib/steps/storage.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import type { Which } from '../lib/storage.js';
import { attachStorage } from '../lib/steps/storage.js';
import { step, type ActivityDeps } from './context.js';

export const createStorageActivities = (deps: ActivityDeps) => ({
  attachStorage: (spec: ClusterSpec, nodeName: string, which: Which) => step(deps, (s) => attachStorage(s, spec, nodeName, which)),
});
