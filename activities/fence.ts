// fence: before a primary starts on shared storage, prove the old one is down everywhere it
// could still run. Proof is either nothing answering on its address and port (refused) with no
// postmaster in its directory, or a fencing agent's confirmation. Whatever answers in a way that
// cannot be named (a timeout, a refused login, a postmaster starting) is evidence for the
// operator's `approve` gate, never proof.
import type { ClusterSpec } from '../lib/model/spec.js';
import { sharedNodes } from '../lib/model/spec.js';
import type { Detailed, FenceDetails } from '../lib/model/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { whoAnswers } from '../lib/db.js';
import { failure } from '../lib/failures.js';
import { processesIn, runAgent } from '../lib/fencing.js';
import { HostGone } from '../lib/hosts/types.js';
import { profileOf } from '../lib/profiles/index.js';

export const createFenceActivities = (deps: ActivityDeps) => ({
  async fence(spec: ClusterSpec): Promise<Detailed<FenceDetails>> {
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
      const dir = profileOf(spec).postmasterDir(spec, node);
      if (spec.fencing.agent) {
        const said = await runAgent(spec, node, dir, j);
        proven.push(`${node.name}: the fencing agent confirmed it is off${said ? ` (${said})` : ''}`);
        j.changed = true;
        continue;
      }
      if (p.state !== 'down') {
        unproven.push(`${node.name}: ${p.detail}`);
        continue;
      }
      proven.push(`${node.name}: nothing answers on ${node.address}:${node.port} (${p.detail})`);
      try {
        const pids = await processesIn(deps.hostFor(node), dir);
        if (pids.length)
          unproven.push(
            `${node.name}: processes ${pids.join(', ')} run in ${dir} but nothing answers: a postmaster may be starting or hung`,
          );
        else proven.push(`${node.name}: no process runs in ${dir}`);
      } catch (err) {
        // The engine says the node's container is gone or stopped: nothing of the node runs there.
        if (err instanceof HostGone) proven.push(`${node.name}: its host is gone (${err.message})`);
        else unproven.push(`${node.name}: cannot look for a postmaster on the host (${(err as Error).message})`);
      }
    }
    j.verified.push(...proven);
    return resultOf(j, { proven: unproven.length === 0, evidence: [...unproven, ...proven], answering });
  },
});
