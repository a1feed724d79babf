// prepareBinaries: the database binaries in place on a host (copied or linked from shared
// storage, or already installed), proven by running them; then the host's caches for them filled
// (polardb: its config templates), which is no change to the cluster.
import type { ClusterSpec } from '../model/spec.js';
import { nodeNamed } from '../model/spec.js';
import { runCheck, runOps } from '../ops.js';
import { profileOf } from '../profiles/index.js';
import type { StepEnv } from './env.js';

export async function prepareBinaries({ hostFor, j }: StepEnv, spec: ClusterSpec, nodeName: string): Promise<void> {
  const node = nodeNamed(spec, nodeName);
  const host = hostFor(node);
  const { ops, check, then } = profileOf(spec).binaries(spec, node);
  await runOps(host, ops, j);
  await runCheck(host, check, j);
  if (then?.length) {
    // A host cache filled is no change to the cluster: an already healthy one stays "already healthy".
    const changed = j.changed;
    await runOps(host, then, j);
    j.changed = changed;
  }
}
