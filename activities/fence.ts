// fence: before a primary starts on shared storage, prove the old one is down everywhere it
// could still run. Proof is either nothing answering on its address and port (refused) with no
// postmaster in its directory, or a fencing agent's confirmation. Whatever answers in a way that
// cannot be named (a timeout, a refused login, a postmaster starting) is evidence for the
// operator's `approve` gate, never proof.
import type { ClusterSpec, NodeSpec } from '../common/spec.js';
import { sharedNodes } from '../common/spec.js';
import type { StepResult } from '../common/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { whoAnswers } from './db.js';
import { failure } from './failures.js';
import { HostGone, type Host } from './hosts/types.js';
import { LocalHost } from './hosts/local.js';
import { renderCmd } from './hosts/types.js';
import type { Journal } from './ops.js';
import { processesInDir } from './profiles/common.js';
import { profileOf } from './profiles/index.js';

/** PIDs whose working directory is `dir`. */
async function processesIn(host: Host, dir: string): Promise<string[]> {
  const r = await host.run(processesInDir(dir));
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The agent's argv for one node, placeholders filled in. */
export function agentArgv(spec: ClusterSpec, node: NodeSpec, dataDir: string): string[] {
  const values: Record<string, string> = {
    node: node.name,
    address: node.address,
    port: String(node.port),
    localDir: node.localDir,
    dataDir,
  };
  return spec.fencing.agent!.command.map((w) => w.replace(/\{(\w+)\}/g, (_, k: string) => values[k]!));
}

/** Runs the fencing agent on the worker for one node; its exit 0 is the proof, anything else stops the run. */
export async function runAgent(spec: ClusterSpec, node: NodeSpec, dataDir: string, j: Journal): Promise<string> {
  const cmd = { argv: agentArgv(spec, node, dataDir), as: 'root' as const, timeoutMs: spec.fencing.agent!.timeoutSeconds * 1000 };
  const agentHost = new LocalHost('worker');
  j.ran(agentHost.name, renderCmd(cmd));
  const r = await agentHost.run(cmd);
  const said = (r.stdout + '\n' + r.stderr).trim().split('\n').filter(Boolean).slice(-3).join(' / ');
  if (r.exitCode !== 0)
    throw failure(
      'FenceFailed',
      `the fencing agent for ${node.name} ${r.timedOut ? `timed out after ${cmd.timeoutMs / 1000} s` : `exited ${r.exitCode}`}: ${said || '(no output)'}`,
    );
  return said;
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
