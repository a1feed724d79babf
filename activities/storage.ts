// attachStorage: the disk bound and named on its node's host (lib/storage.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { nodeNamed } from '../lib/model/spec.js';
import type { AttachDetails, Detailed } from '../lib/model/report.js';
import { attach, diskOf, type Which } from '../lib/storage.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';

export const createStorageActivities = (deps: ActivityDeps) => ({
  async attachStorage(spec: ClusterSpec, nodeName: string, which: Which): Promise<Detailed<AttachDetails>> {
    const node = nodeNamed(spec, nodeName);
    const j = journalOf(deps);
    const device = await attach(deps.hostFor(node), diskOf(spec, node, which), j, node.host.transport === 'docker');
    return resultOf(j, { device });
  },
});
