// prepareBinaries: the database binaries in place on a host (copied or linked from shared
// storage, or already installed), proven by running them. prepareTemplates: the host's caches for
// them filled (polardb: its config templates), which is no change to the cluster.
import type { ClusterSpec } from '../model/spec.js';
import { nodeNamed } from '../model/spec.js';
import { runCheck, runOps } from '../ops.js';
import { profileOf } from '../profiles/index.js';
import type { StepEnv } from './env.js';

/** `templates`: fill the caches here too (recoveries started before prepareTemplates was a step of its own). */
export async function prepareBinaries(env: StepEnv, spec: ClusterSpec, nodeName: string, templates = true): Promise<void> {
  const node = nodeNamed(spec, nodeName);
  const { ops, check } = profileOf(spec).binaries(spec, node);
  const host = env.hostFor(node);
  await runOps(host, ops, env.j);
  await runCheck(host, check, env.j);
  if (templates) await prepareTemplates(env, spec, nodeName);
}

export async function prepareTemplates({ hostFor, j }: StepEnv, spec: ClusterSpec, nodeName: string): Promise<void> {
  const node = nodeNamed(spec, nodeName);
  const { then } = profileOf(spec).binaries(spec, node);
  if (!then?.length) return;
  // A host cache filled is no change to the cluster: an already healthy one stays "already healthy".
  const changed = j.changed;
  await runOps(hostFor(node), then, j);
  j.changed = changed;
}
