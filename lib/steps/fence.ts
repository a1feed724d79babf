// fence: before a primary starts on shared storage, prove the old one is down everywhere it
// could still run. Proof is either nothing answering on its address and port (refused) with no
// postmaster in its directory, or a fencing agent's confirmation. Whatever answers in a way that
// cannot be named (a timeout, a refused login, a postmaster starting) is evidence for the
// operator's `approve` gate, never proof.
import type { ClusterSpec, NodeSpec } from '../model/spec.js';
import { sharedNodes } from '../model/spec.js';
import type { FenceDetails } from '../model/report.js';
import { whoAnswers } from '../db.js';
import { failure } from '../failures.js';
import { processesIn, runAgent } from '../fencing.js';
import { HostGone } from '../hosts/types.js';
import { profileOf } from '../profiles/index.js';
import type { StepEnv } from './env.js';

interface NodeEvidence {
  proven: string[];
  unproven: string[];
  answering?: boolean;
}

/** What proves (or fails to prove) one node down. */
async function fenceNode({ hostFor, j }: StepEnv, spec: ClusterSpec, node: NodeSpec): Promise<NodeEvidence> {
  const p = await whoAnswers(spec, node);
  if (p.state === 'foreign') throw failure('PortTaken', p.detail);
  if (p.state === 'ours') {
    // This node is back already (a second run): a primary must be the only writer.
    if (!p.inRecovery && node.role !== 'primary')
      throw failure('SplitBrainRisk', `${node.name} answers as a read-write node but is a ${node.role} in the spec`);
    return {
      proven: [`${node.name}: answers as this cluster's ${p.inRecovery ? 'replica' : 'primary'} (already recovered)`],
      unproven: [],
      answering: true,
    };
  }
  const dir = profileOf(spec).postmasterDir(spec, node);
  if (spec.fencing.agent) {
    const said = await runAgent(spec, node, dir, j);
    j.changed = true;
    return { proven: [`${node.name}: the fencing agent confirmed it is off${said ? ` (${said})` : ''}`], unproven: [] };
  }
  if (p.state !== 'down') return { proven: [], unproven: [`${node.name}: ${p.detail}`] };
  const proven = [`${node.name}: nothing answers on ${node.address}:${node.port} (${p.detail})`];
  try {
    const pids = await processesIn(hostFor(node), dir);
    if (pids.length)
      return {
        proven,
        unproven: [`${node.name}: processes ${pids.join(', ')} run in ${dir} but nothing answers: a postmaster may be starting or hung`],
      };
    return { proven: [...proven, `${node.name}: no process runs in ${dir}`], unproven: [] };
  } catch (err) {
    // The engine says the node's container is gone or stopped: nothing of the node runs there.
    if (err instanceof HostGone) return { proven: [...proven, `${node.name}: its host is gone (${err.message})`], unproven: [] };
    return { proven, unproven: [`${node.name}: cannot look for a postmaster on the host (${(err as Error).message})`] };
  }
}

export async function fence(env: StepEnv, spec: ClusterSpec): Promise<FenceDetails> {
  // Every node looked at at once; a cause that stops the run is named in the spec's order.
  const nodes = sharedNodes(spec);
  const settled = await Promise.allSettled(nodes.map((node) => fenceNode(env, spec, node)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const each = settled.map((r) => (r as PromiseFulfilledResult<NodeEvidence>).value);
  const proven = each.flatMap((e) => e.proven);
  const unproven = each.flatMap((e) => e.unproven);
  /** Nodes serving as themselves before this run touched anything (so it did not bring them back). */
  const answering = nodes.filter((_, i) => each[i]!.answering).map((n) => n.name);
  env.j.verified.push(...proven);
  return { proven: unproven.length === 0, evidence: [...unproven, ...proven], answering };
}
