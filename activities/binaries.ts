// prepareBinaries: the database binaries in place on a host and proven (lib/steps/binaries.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { prepareBinaries } from '../lib/steps/binaries.js';
import { step, type ActivityDeps } from './context.js';

export const createBinariesActivities = (deps: ActivityDeps) => ({
  prepareBinaries: (spec: ClusterSpec, nodeName: string) => step(deps, (s) => prepareBinaries(s, spec, nodeName)),
});
