// fence: the old primary proven down before a primary starts on shared storage (lib/steps/fence.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { fence } from '../lib/steps/fence.js';
import { step, type ActivityDeps } from './context.js';

export const createFenceActivities = (deps: ActivityDeps) => ({
  fence: (spec: ClusterSpec) => step(deps, (s) => fence(s, spec)),
});
