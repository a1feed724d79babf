// Registered clusters: specs the worker loaded from its clusters dir, so a trigger (the Web UI,
// a webhook) can name a cluster instead of pasting its whole spec.
import type { ClusterSpecInput } from '../lib/model/spec.js';
import type { ActivityDeps } from './context.js';
import { failure } from '../lib/failures.js';

export const createRegistryActivities = (deps: ActivityDeps) => ({
  async loadRegisteredSpec(cluster: string): Promise<ClusterSpecInput> {
    const spec = deps.registered?.get(cluster);
    if (!spec)
      throw failure(
        'SpecInvalid',
        `no registered cluster named ${cluster} (known: ${[...(deps.registered?.keys() ?? [])].join(', ') || 'none'})`,
      );
    return spec;
  },
});
