// provisionHost: a docker node's container, made when it is gone (lib/steps/provision.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { provisionHost } from '../lib/steps/provision.js';
import { step, type ActivityDeps } from './context.js';

export const createProvisionActivities = (deps: ActivityDeps) => ({
  provisionHost: (spec: ClusterSpec, nodeName: string) => step(deps, (s) => provisionHost(s, spec, nodeName)),
});
