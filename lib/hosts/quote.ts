// Where argv crosses a shell boundary (ssh's remote command line) and what the far side of a
// remote transport wraps around a command. The only place argv becomes a string a shell will run.
import type { Cmd } from './types.js';

/**
 * Quotes argv for a POSIX shell so every word arrives byte-for-byte: each word is single-quoted
 * (`'` becomes `'\''`). Unlike shellWord, plain-looking words are quoted too, so a first word such
 * as `A=b` or `if` stays a command word instead of an assignment or a keyword.
 */
export function quoteForShell(argv: string[]): string {
  return argv
    .map((w) => {
      if (w.includes('\0')) throw new Error('an argument cannot contain a NUL byte');
      return `'${w.replaceAll("'", `'\\''`)}'`;
    })
    .join(' ');
}

/**
 * Run as `sh -c SCRIPT <file> <argv...>`: sends the command's stdout and stderr to the file and
 * detaches stdin, so a daemon it leaves behind does not hold the transport's channel open. A
 * constant: the file and argv are positional parameters, never spliced into the script.
 */
export const OUTPUT_FILE_SCRIPT = 'exec "$@" >>"$0" 2>&1 </dev/null';

/** Whole seconds: the duration form every `timeout` implementation takes. */
export const remoteTimeoutSeconds = (timeoutMs: number): number => Math.max(1, Math.ceil(timeoutMs / 1000));

/**
 * The command as the far side runs it (after any user switch): killed there at the deadline,
 * since killing the local ssh/docker client leaves the remote process running; and with its
 * output sent to cmd.outputFile when asked. `timeout -s KILL` kills its whole process group.
 */
export function farSideArgv(cmd: Cmd, runId?: string): string[] {
  if (cmd.argv.length === 0) throw new Error('empty argv');
  const argv = cmd.outputFile === undefined ? cmd.argv : ['sh', '-c', OUTPUT_FILE_SCRIPT, cmd.outputFile, ...cmd.argv];
  const timed = cmd.timeoutMs === undefined ? argv : ['timeout', '-s', 'KILL', String(remoteTimeoutSeconds(cmd.timeoutMs)), ...argv];
  return runId === undefined ? timed : ['env', `${RUN_MARK}=${runId}`, ...timed];
}

/**
 * The variable a cancellable remote command and everything it starts inherit: killing the local
 * ssh or docker client leaves the far side running, so a cancel finds the processes by it.
 */
export const RUN_MARK = 'POLAR_RUNBOOK_RUN';

/** Ends (TERM) every process whose environment carries `$RUN_MARK=$0`. A constant; the id is its argument. */
export const KILL_MARKED_SCRIPT =
  `for e in /proc/[0-9]*/environ; do tr "\\0" "\\n" <"$e" 2>/dev/null | grep -qxF "${RUN_MARK}=$0" || continue; ` +
  'p=${e#/proc/}; kill -TERM "${p%/environ}" 2>/dev/null; done; true';

/**
 * Runs `start(runId)` so that `signal` cancels it on the far side too: an abort ends the marked
 * processes through `kill` (a second command on the same host, as the same user), then the local client.
 */
export async function cancellableRemote<T>(
  cmd: Cmd,
  start: (runId: string | undefined) => { result: Promise<T>; stop: () => void },
  kill: (killCmd: Cmd) => Promise<unknown>,
): Promise<{ value: T; cancelled: boolean }> {
  if (!cmd.signal) return { value: await start(undefined).result, cancelled: false };
  if (cmd.signal.aborted) return { value: undefined as T, cancelled: true };
  const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const run = start(runId);
  let cancelled = false;
  const onAbort = () => {
    cancelled = true;
    // As the command's own user: reading another user's /proc/<pid>/environ needs CAP_SYS_PTRACE,
    // which root in a container lacks by default (Docker's default capabilities).
    void kill({ argv: ['sh', '-c', KILL_MARKED_SCRIPT, runId], as: cmd.as, timeoutMs: 15_000 })
      .catch(() => {})
      .finally(() => setTimeout(run.stop, 2000).unref());
  };
  cmd.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return { value: await run.result, cancelled };
  } finally {
    cmd.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Whether the far-side `timeout` killed the command: it ran until the deadline and died of
 * SIGKILL (137 through docker or a shell; ssh reports a remote signal death as 255).
 */
export const killedAtDeadline = (cmd: Cmd, exitCode: number, durationMs: number): boolean =>
  cmd.timeoutMs !== undefined && durationMs >= remoteTimeoutSeconds(cmd.timeoutMs) * 1000 && (exitCode === 137 || exitCode === 255);
