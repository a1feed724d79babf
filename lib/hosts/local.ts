// The local transport: commands run on the worker's own machine (started by the command helper,
// lib/hosts/process.ts), with an explicit minimal environment (never the worker's: its variables
// may hold secrets) and in a process group of their own, so a cancel ends the whole tree.
import { COMMAND_ENV, startProcess, type Started } from './process.js';
import { farSideArgv, KILL_MARKED_SCRIPT, killedAtDeadline, RUN_MARK } from './quote.js';
import { CommandCancelled, type Cmd, type CmdResult, type Host } from './types.js';

export { COMMAND_ENV };

const isRoot = process.getuid?.() === 0;

/** The few of the worker's own variables a client program needs (ssh, docker), by name. */
export const workerVars = (keys: string[]): Record<string, string> =>
  Object.fromEntries(keys.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])));

/** argv that runs `cmd` as the right user on this machine (killed at its deadline, output to its file). */
export function localArgv(cmd: Cmd, dbUser: string): string[] {
  const argv = farSideArgv(cmd);
  if (cmd.as === 'db') return isRoot ? ['runuser', '-u', dbUser, '--', ...argv] : ['sudo', '-n', '-u', dbUser, '--', ...argv];
  return isRoot ? argv : ['sudo', '-n', '--', ...argv];
}

let runs = 0;

export class LocalHost implements Host {
  constructor(
    readonly name: string,
    readonly dbUser = 'postgres',
  ) {}

  async run(cmd: Cmd): Promise<CmdResult> {
    if (cmd.signal?.aborted) throw new CommandCancelled(this.name, cmd.argv);
    const [file, ...args] = localArgv(cmd, this.dbUser);
    const runId = `${process.pid}-${++runs}`;
    const started = Date.now();
    const child = startProcess(file!, args, {
      input: cmd.input,
      // With an output file the command's own shell redirects: no pipe of ours stays open for a
      // daemon it leaves behind to hold.
      discardOutput: cmd.outputFile !== undefined,
      // `timeout -s KILL` inside kills the command (and its process group) at the deadline; this is the backstop.
      timeoutMs: cmd.timeoutMs === undefined ? undefined : cmd.timeoutMs + 5000,
      // A process group of its own: a cancel signals the group, not the worker; daemons we start outlive the worker.
      detached: true,
      env: { ...COMMAND_ENV, [RUN_MARK]: runId },
    });
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      cancelTree(child, runId);
    };
    cmd.signal?.addEventListener('abort', onAbort, { once: true });
    const r = await child.result.finally(() => cmd.signal?.removeEventListener('abort', onAbort));
    if (cancelled) throw new CommandCancelled(this.name, cmd.argv);
    const durationMs = Date.now() - started;
    // `timeout -s KILL` kills its own process group, itself included: a death by SIGKILL is 137, as through a shell.
    const exitCode = r.exitCode ?? (r.timedOut ? 124 : r.signal === 'SIGKILL' ? 137 : 1);
    const timedOut = r.timedOut || killedAtDeadline(cmd, exitCode, durationMs);
    return {
      exitCode: timedOut ? 124 : exitCode,
      stdout: r.stdout,
      stderr: r.stderr ?? (timedOut ? '' : (r.failure ?? '')),
      durationMs,
      timedOut,
    };
  }
}

/** TERM to the command's group and to everything that carries its mark (`timeout` makes a group of its own), KILL 2 s later. */
function cancelTree(child: Started, runId: string): void {
  child.kill('SIGTERM', true);
  void startProcess('sh', ['-c', KILL_MARKED_SCRIPT, runId], { env: { ...COMMAND_ENV } }).result.catch(() => {});
  setTimeout(() => child.kill('SIGKILL', true), 2000).unref();
}
