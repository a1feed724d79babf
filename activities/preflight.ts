// preflight: what can be checked without touching anything, before anything is touched (lib/steps/preflight.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { preflight } from '../lib/steps/preflight.js';
import { step, type ActivityDeps } from './context.js';

export const createPreflightActivities = (deps: ActivityDeps) => ({
  preflight: (spec: ClusterSpec) => step(deps, (s) => preflight(s, spec)),
});
