// The local transport: commands run on the worker's own machine through execa.
import { execa } from 'execa';
import type { Cmd, CmdResult, Host } from './types.js';

const isRoot = process.getuid?.() === 0;

/** argv that runs `cmd` as the right user on this machine. */
export function localArgv(cmd: Cmd, dbUser: string): string[] {
  if (cmd.as === 'db') return isRoot ? ['runuser', '-u', dbUser, '--', ...cmd.argv] : ['sudo', '-n', '-u', dbUser, '--', ...cmd.argv];
  return isRoot ? cmd.argv : ['sudo', '-n', '--', ...cmd.argv];
}

export class LocalHost implements Host {
  constructor(
    readonly name: string,
    readonly dbUser = 'postgres',
  ) {}

  async run(cmd: Cmd): Promise<CmdResult> {
    const [file, ...args] = localArgv(cmd, this.dbUser);
    // Appending to a file, not a pipe: a daemon that keeps the caller's stdio open cannot hold us.
    const out = cmd.outputFile ? { file: cmd.outputFile, append: true } : undefined;
    const started = Date.now();
    const r = await execa(file!, args, {
      reject: false,
      ...(cmd.input === undefined ? { stdin: 'ignore' as const } : { input: cmd.input }),
      stdout: out ?? 'pipe',
      stderr: out ?? 'pipe',
      timeout: cmd.timeoutMs,
      killSignal: 'SIGKILL',
      // Daemons we start must outlive the worker: no cleanup of children on exit.
      cleanup: false,
      env: { LC_ALL: 'C' },
    });
    return {
      exitCode: r.exitCode ?? (r.timedOut ? 124 : 1),
      stdout: typeof r.stdout === 'string' ? r.stdout : '',
      stderr: typeof r.stderr === 'string' ? r.stderr : r.timedOut ? '' : (r.originalMessage ?? ''),
      durationMs: Date.now() - started,
      timedOut: r.timedOut,
    };
  }
}
