// prepareBinaries: the database binaries in place on a host (copied or linked from shared
// storage, or already installed), proven by running them; then the host's caches for them filled
// (polardb: its config templates), which is no change to the cluster.
import type { ClusterSpec } from '../lib/model/spec.js';
import { nodeNamed } from '../lib/model/spec.js';
import type { StepResult } from '../lib/model/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { runCheck, runOps } from '../lib/ops.js';
import { profileOf } from '../lib/profiles/index.js';

export const createBinariesActivities = (deps: ActivityDeps) => ({
  async prepareBinaries(spec: ClusterSpec, nodeName: string): Promise<StepResult> {
    const node = nodeNamed(spec, nodeName);
    const host = deps.hostFor(node);
    const j = journalOf(deps);
    const { ops, check, then } = profileOf(spec).binaries(spec, node);
    await runOps(host, ops, j);
    await runCheck(host, check, j);
    if (then?.length) {
      // A host cache filled is no change to the cluster: an already healthy one stays "already healthy".
      const changed = j.changed;
      await runOps(host, then, j);
      j.changed = changed;
    }
    return resultOf(j);
  },
});
