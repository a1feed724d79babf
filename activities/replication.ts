// validateSlots and waitStreaming: the slots survived, and each standby/replica streams (lib/steps/replication.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { validateSlots, waitStreaming } from '../lib/steps/replication.js';
import { step, type ActivityDeps } from './context.js';

export const createReplicationActivities = (deps: ActivityDeps) => ({
  validateSlots: (spec: ClusterSpec, create: boolean) => step(deps, (s) => validateSlots(s, spec, create)),
  waitStreaming: (spec: ClusterSpec, nodeName: string, limitMs?: number) => step(deps, (s) => waitStreaming(s, spec, nodeName, limitMs)),
});
