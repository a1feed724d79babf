// The local transport: commands run on the worker's own machine through execa, with an explicit
// minimal environment (never the worker's: its variables may hold secrets) and in a process group
// of their own, so a cancel ends the whole tree.
import { execa } from 'execa';
import { farSideArgv, KILL_MARKED_SCRIPT, killedAtDeadline, RUN_MARK } from './quote.js';
import { CommandCancelled, type Cmd, type CmdResult, type Host } from './types.js';

const isRoot = process.getuid?.() === 0;

/** Everything a command we start sees of an environment. */
export const COMMAND_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LC_ALL: 'C',
};

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
    // With an output file the command's own shell redirects: no pipe of ours stays open for a
    // daemon it leaves behind to hold (execa would wait for that pipe's EOF).
    const stdio = cmd.outputFile ? ('ignore' as const) : ('pipe' as const);
    const started = Date.now();
    const child = execa(file!, args, {
      reject: false,
      ...(cmd.input === undefined ? { stdin: 'ignore' as const } : { input: cmd.input }),
      stdout: stdio,
      stderr: stdio,
      // `timeout -s KILL` inside kills the command (and its process group) at the deadline; this is the backstop.
      timeout: cmd.timeoutMs === undefined ? undefined : cmd.timeoutMs + 5000,
      killSignal: 'SIGKILL',
      // Daemons we start must outlive the worker: no cleanup of children on exit.
      cleanup: false,
      // A process group of its own: a cancel signals the group, not the worker.
      detached: true,
      extendEnv: false,
      env: { ...COMMAND_ENV, [RUN_MARK]: runId },
    });
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      cancelTree(child.pid, runId);
    };
    cmd.signal?.addEventListener('abort', onAbort, { once: true });
    const r = await child.finally(() => cmd.signal?.removeEventListener('abort', onAbort));
    if (cancelled) throw new CommandCancelled(this.name, cmd.argv);
    const durationMs = Date.now() - started;
    const exitCode = r.exitCode ?? (r.timedOut ? 124 : 1);
    const timedOut = r.timedOut || killedAtDeadline(cmd, exitCode, durationMs);
    return {
      exitCode: timedOut ? 124 : exitCode,
      stdout: typeof r.stdout === 'string' ? r.stdout : '',
      stderr: typeof r.stderr === 'string' ? r.stderr : timedOut ? '' : (r.originalMessage ?? ''),
      durationMs,
      timedOut,
    };
  }
}

/** TERM to the command's group and to everything that carries its mark (`timeout` makes a group of its own), KILL 2 s later. */
function cancelTree(pid: number | undefined, runId: string): void {
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      if (pid) process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  void execa('sh', ['-c', KILL_MARKED_SCRIPT, runId], { reject: false, extendEnv: false, env: COMMAND_ENV });
  setTimeout(() => signalGroup('SIGKILL'), 2000).unref();
}
