// prepareBinaries: the database binaries in place on a host and proven; prepareTemplates: the
// host's caches for them filled (lib/steps/binaries.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { prepareBinaries, prepareTemplates } from '../lib/steps/binaries.js';
import { step, type ActivityDeps } from './context.js';

export const createBinariesActivities = (deps: ActivityDeps) => ({
  prepareBinaries: (spec: ClusterSpec, nodeName: string, templates?: boolean) =>
    step(deps, (s) => prepareBinaries(s, spec, nodeName, templates)),
  prepareTemplates: (spec: ClusterSpec, nodeName: string) => step(deps, (s) => prepareTemplates(s, spec, nodeName)),
});
