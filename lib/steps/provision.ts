// provisionHost: a docker node's container, made when it is gone (lib/provision.ts).
import type { ClusterSpec } from '../model/spec.js';
import { nodeNamed } from '../model/spec.js';
import type { ProvisionDetails } from '../model/report.js';
import { failure } from '../failures.js';
import { provisionContainer } from '../provision.js';
import type { StepEnv } from './env.js';

export async function provisionHost({ j }: StepEnv, spec: ClusterSpec, nodeName: string): Promise<ProvisionDetails> {
  const node = nodeNamed(spec, nodeName);
  const h = node.host;
  if (h.transport !== 'docker' || !h.provision) throw failure('SpecInvalid', `${nodeName} has no host.provision: nothing to create`);
  const did = await provisionContainer(node.name, h.container, h.provision, j);
  if (did === 'running') j.skipped.push(`${node.name}: container ${h.container} already runs ${h.provision.image}`);
  else j.changed = true;
  j.verified.push(`${node.name}: container ${h.container} runs commands`);
  return { container: h.container, did };
}
