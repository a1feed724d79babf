// The local transport: commands run on the worker's own machine through execa.
import { execa } from 'execa';
import { farSideArgv, killedAtDeadline } from './quote.js';
import type { Cmd, CmdResult, Host } from './types.js';

const isRoot = process.getuid?.() === 0;

/** argv that runs `cmd` as the right user on this machine (killed at its deadline, output to its file). */
export function localArgv(cmd: Cmd, dbUser: string): string[] {
  const argv = farSideArgv(cmd);
  if (cmd.as === 'db') return isRoot ? ['runuser', '-u', dbUser, '--', ...argv] : ['sudo', '-n', '-u', dbUser, '--', ...argv];
  return isRoot ? argv : ['sudo', '-n', '--', ...argv];
}

export class LocalHost implements Host {
  constructor(
    readonly name: string,
    readonly dbUser = 'postgres',
  ) {}

  async run(cmd: Cmd): Promise<CmdResult> {
    const [file, ...args] = localArgv(cmd, this.dbUser);
    // With an output file the command's own shell redirects: no pipe of ours stays open for a
    // daemon it leaves behind to hold (execa would wait for that pipe's EOF).
    const stdio = cmd.outputFile ? ('ignore' as const) : ('pipe' as const);
    const started = Date.now();
    const r = await execa(file!, args, {
      reject: false,
      ...(cmd.input === undefined ? { stdin: 'ignore' as const } : { input: cmd.input }),
      stdout: stdio,
      stderr: stdio,
      // `timeout -s KILL` inside kills the command (and its process group) at the deadline; this is the backstop.
      timeout: cmd.timeoutMs === undefined ? undefined : cmd.timeoutMs + 5000,
      killSignal: 'SIGKILL',
      // Daemons we start must outlive the worker: no cleanup of children on exit.
      cleanup: false,
      env: { LC_ALL: 'C' },
    });
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
