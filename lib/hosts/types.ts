// How a command reaches a host. Commands are argv arrays, never shell strings built from input.

/** Who runs the command: root (through sudo when the login user is not root) or the database OS user. */
export type RunAs = 'root' | 'db';

export interface Cmd {
  argv: string[];
  as: RunAs;
  /** Kill the command (also on the remote side) after this long. */
  timeoutMs?: number;
  /** Fed to stdin (used to write files without a shell). */
  input?: string;
  /**
   * Send stdout and stderr to this file on the host instead of capturing them. For commands
   * that leave a daemon holding the caller's stdio open (pfsdaemon, a postmaster started by
   * pg_ctl without -l): a caller reading a pipe would wait for EOF forever.
   */
  outputFile?: string;
  /**
   * Cancels the command: its whole process tree is ended (TERM, then KILL), on the far side too.
   * run() then throws CommandCancelled.
   */
  signal?: AbortSignal;
}

export interface CmdResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export interface Host {
  /** The node name this host serves (for logs and reports). */
  readonly name: string;
  /** The OS user `as: 'db'` runs as. */
  readonly dbUser: string;
  /** Runs the command; resolves with its exit code (a non-zero exit is not an exception). */
  run(cmd: Cmd): Promise<CmdResult>;
}

/** Thrown when the host itself cannot be reached (retryable: the host may come back). */
export class HostUnreachable extends Error {
  constructor(host: string, detail: string) {
    super(`host ${host} unreachable: ${detail}`);
    this.name = 'HostUnreachable';
  }
}

/** One line a human can read, for plans, reports and logs. */
export const renderCmd = (cmd: Pick<Cmd, 'argv' | 'as'>, dbUser = 'postgres'): string =>
  `${cmd.as === 'root' ? 'root' : dbUser}$ ${cmd.argv.map(shellWord).join(' ')}`;

/** Quotes one word for a POSIX shell (only when it needs it), so rendered commands can be pasted. */
export function shellWord(w: string): string {
  if (w !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(w)) return w;
  return `'${w.replace(/'/g, `'\\''`)}'`;
}

/**
 * The host is not there at all: its container does not exist or is stopped (the engine says so).
 * Still retryable (HostUnreachable): provisioning may bring it; and proof for the fence that
 * nothing of the node runs there.
 */
export class HostGone extends HostUnreachable {
  constructor(host: string, detail: string) {
    super(host, detail);
    this.name = 'HostUnreachable';
  }
  readonly gone = true;
}

/**
 * Thrown when ssh refuses the host's key (unknown or changed). Not retryable: the key does not
 * fix itself, and a changed key may mean the address now reaches another machine.
 */
export class HostKeyRejected extends Error {
  constructor(host: string, detail: string) {
    super(`host ${host}: ssh host key rejected: ${detail}`);
    this.name = 'HostKeyRejected';
  }
}

/** Thrown by run() when the command's signal cancelled it (its processes were ended). */
export class CommandCancelled extends Error {
  constructor(host: string, argv: string[]) {
    super(`on ${host}: ${argv.join(' ')} was cancelled`);
    this.name = 'CommandCancelled';
  }
}
