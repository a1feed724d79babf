// buildNode and startNode: a database node's local side rebuilt, then started and proven to serve (lib/steps/node.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { buildNode, startNode } from '../lib/steps/node.js';
import { step, type ActivityDeps } from './context.js';

export const createNodeActivities = (deps: ActivityDeps) => ({
  buildNode: (spec: ClusterSpec, nodeName: string) => step(deps, (s) => buildNode(s, spec, nodeName)),
  startNode: (spec: ClusterSpec, nodeName: string) => step(deps, (s) => startNode(s, spec, nodeName)),
});
