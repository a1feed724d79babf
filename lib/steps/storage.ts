// attachStorage: the disk bound and named on its node's host (lib/storage.ts).
import type { ClusterSpec } from '../model/spec.js';
import { nodeNamed } from '../model/spec.js';
import type { AttachDetails } from '../model/report.js';
import { attach, diskOf, type Which } from '../storage.js';
import type { StepEnv } from './env.js';

export async function attachStorage({ hostFor, j }: StepEnv, spec: ClusterSpec, nodeName: string, which: Which): Promise<AttachDetails> {
  const node = nodeNamed(spec, nodeName);
  const device = await attach(hostFor(node), diskOf(spec, node, which), j, node.host.transport === 'docker');
  return { device };
}
