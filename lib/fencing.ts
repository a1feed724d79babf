// What fencing needs of a host and of the fencing agent; the decision (what counts as proof) is
// the fence activity's.
import type { ClusterSpec, NodeSpec } from './model/spec.js';
import { failure } from './failures.js';
import { LocalHost } from './hosts/local.js';
import { renderCmd, type Host } from './hosts/types.js';
import type { Journal } from './ops.js';
import { processesInDir } from './profiles/common.js';

/** PIDs whose working directory is `dir`. */
export async function processesIn(host: Host, dir: string): Promise<string[]> {
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
