// fence: before a primary starts on shared storage, prove the old one is down everywhere it
// could still run: no answer on its address and port, no postmaster in its directory. What
// cannot be proven is returned as evidence for the operator's `approve` gate.
import type { ClusterSpec } from '../common/spec.js';
import { sharedNodes } from '../common/spec.js';
import type { StepResult } from '../common/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { whoAnswers } from './db.js';
import { failure } from './failures.js';
import type { Host } from './hosts/types.js';
import { processesInDir } from './profiles/common.js';

/** PIDs whose working directory is `dir`. */
async function processesIn(host: Host, dir: string): Promise<string[]> {
  const r = await host.run(processesInDir(dir));
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('/')[2]!);
}

export const createFenceActivities = (deps: ActivityDeps) => ({
  async fence(spec: ClusterSpec): Promise<StepResult> {
    const j = journalOf(deps);
    const unproven: string[] = [];
    const proven: string[] = [];
    /** Nodes serving as themselves before this run touched anything (so it did not bring them back). */
    const answering: string[] = [];
    for (const node of sharedNodes(spec)) {
      const p = await whoAnswers(spec, node);
      if (p.state === 'foreign') throw failure('PortTaken', p.detail);
      if (p.state === 'ours') {
        // This node is back already (a second run): a primary must be the only writer.
        if (!p.inRecovery && node.role !== 'primary')
          throw failure('SplitBrainRisk', `${node.name} answers as a read-write node but is a ${node.role} in the spec`);
        proven.push(`${node.name}: answers as this cluster's ${p.inRecovery ? 'replica' : 'primary'} (already recovered)`);
        answering.push(node.name);
        continue;
      }
      proven.push(`${node.name}: nothing answers on ${node.address}:${node.port} (${p.detail})`);
      const dir = deps.profiles[spec.profile]!.postmasterDir(spec, node);
      try {
        const pids = await processesIn(deps.hostFor(node), dir);
        if (pids.length)
          unproven.push(
            `${node.name}: processes ${pids.join(', ')} run in ${dir} but nothing answers: a postmaster may be starting or hung`,
          );
        else proven.push(`${node.name}: no process runs in ${dir}`);
      } catch (err) {
        unproven.push(`${node.name}: cannot look for a postmaster on the host (${(err as Error).message})`);
      }
    }
    j.verified.push(...proven);
    return resultOf(j, { proven: unproven.length === 0, evidence: [...unproven, ...proven], answering });
  },
});
