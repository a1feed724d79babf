// provisionHost: a docker node's container, made when it is gone (lib/provision.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { nodeNamed } from '../lib/model/spec.js';
import type { Detailed, ProvisionDetails } from '../lib/model/report.js';
import { failure } from '../lib/failures.js';
import { provisionContainer } from '../lib/provision.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';

export const createProvisionActivities = (deps: ActivityDeps) => ({
  async provisionHost(spec: ClusterSpec, nodeName: string): Promise<Detailed<ProvisionDetails>> {
    const node = nodeNamed(spec, nodeName);
    const h = node.host;
    if (h.transport !== 'docker' || !h.provision) throw failure('SpecInvalid', `${nodeName} has no host.provision: nothing to create`);
    const j = journalOf(deps);
    const did = await provisionContainer(node.name, h.container, h.provision, j);
    if (did === 'running') j.skipped.push(`${node.name}: container ${h.container} already runs ${h.provision.image}`);
    else j.changed = true;
    j.verified.push(`${node.name}: container ${h.container} runs commands`);
    return resultOf(j, { container: h.container, did });
  },
});
