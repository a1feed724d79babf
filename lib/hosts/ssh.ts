// The ssh transport: the system OpenSSH client with host key checking on. The remote command is
// one string, built only by quoteForShell, which the login user's shell splits back into argv.
import { workerVars } from './local.js';
import { COMMAND_ENV, startProcess } from './process.js';
import { cancellableRemote, farSideArgv, killedAtDeadline, quoteForShell, remoteTimeoutSeconds } from './quote.js';
import { CommandCancelled, HostKeyRejected, HostUnreachable, type Cmd, type CmdResult, type Host } from './types.js';

export interface SshTransport {
  transport: 'ssh';
  address: string;
  port: number;
  user: string;
  identityFile?: string;
  knownHostsFile?: string;
  connectTimeoutSeconds: number;
}

/** How the login user becomes the user the command runs as. */
function switchUser(cmd: Cmd, login: string, dbUser: string): string[] {
  if (cmd.as === 'root') return login === 'root' ? [] : ['sudo', '-n', '--'];
  if (login === dbUser) return [];
  return login === 'root' ? ['runuser', '-u', dbUser, '--'] : ['sudo', '-n', '-u', dbUser, '--'];
}

/** The full ssh argv (starting with `ssh`) that runs `cmd` on the host. */
export function sshArgv(cmd: Cmd, dbUser: string, t: SshTransport, runId?: string): string[] {
  return [
    'ssh',
    ...['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `ConnectTimeout=${t.connectTimeoutSeconds}`],
    // A host that dies mid-command ends the session (exit 255) instead of leaving ssh waiting.
    ...['-o', 'ServerAliveInterval=10', '-o', 'ServerAliveCountMax=3', '-o', 'LogLevel=ERROR'],
    // IdentitiesOnly: an agent's other keys could use up the server's MaxAuthTries first.
    ...(t.identityFile === undefined ? [] : ['-i', t.identityFile, '-o', 'IdentitiesOnly=yes']),
    ...(t.knownHostsFile === undefined ? [] : ['-o', `UserKnownHostsFile=${t.knownHostsFile}`]),
    ...['-p', String(t.port), '-l', t.user, '-T', '--', t.address],
    quoteForShell([...switchUser(cmd, t.user, dbUser), ...farSideArgv(cmd, runId)]),
  ];
}

// Messages of the ssh client itself (line starts), as opposed to the remote command's stderr.
const HOST_KEY_ERROR = /^Host key verification failed\./m;
const SSH_ERROR =
  /^(ssh: |kex_exchange_identification: |banner exchange: |ssh_dispatch_run_fatal: |client_loop: |Connection (closed|reset|timed out) |Connection to \S+ closed|Timeout, server \S+ not responding|Unable to negotiate with |\S+: Permission denied \()/m;

/** Throws when a 255 exit came from ssh failing, not from the remote command. */
function throwIfSshFailed(host: string, exitCode: number, stderr: string): void {
  if (exitCode !== 255) return;
  const detail = stderr.trim().split('\n').at(-1) ?? '';
  if (HOST_KEY_ERROR.test(stderr)) throw new HostKeyRejected(host, stderr.trim());
  if (SSH_ERROR.test(stderr)) throw new HostUnreachable(host, detail);
}

export class SshHost implements Host {
  constructor(
    readonly name: string,
    readonly dbUser: string,
    private readonly t: SshTransport,
  ) {}

  async run(cmd: Cmd): Promise<CmdResult> {
    const started = Date.now();
    const { value: r, cancelled } = await cancellableRemote(
      cmd,
      (runId) => {
        const [file, ...args] = sshArgv(cmd, this.dbUser, this.t, runId);
        const child = startProcess(file!, args, {
          input: cmd.input,
          // A backstop for a stuck connection: the far-side timeout normally ends the command first,
          // after the connection is set up (which may take up to ConnectTimeout).
          timeoutMs:
            cmd.timeoutMs === undefined ? undefined : (remoteTimeoutSeconds(cmd.timeoutMs) + this.t.connectTimeoutSeconds + 2) * 1000,
          // Forwarded where the server accepts LC_* (Debian's default), so output parses the same as
          // local. ssh finds its config, known hosts and agent through these; nothing else of the worker's.
          env: { ...COMMAND_ENV, ...workerVars(['HOME', 'SSH_AUTH_SOCK']) },
        });
        return { result: child.result, stop: () => child.kill('SIGKILL') };
      },
      (killCmd) => this.run(killCmd),
    );
    if (cancelled) throw new CommandCancelled(this.name, cmd.argv);
    const durationMs = Date.now() - started;
    const { stdout } = r;
    const stderr = r.stderr ?? '';
    if (r.timedOut) return { exitCode: 124, stdout, stderr, durationMs, timedOut: true };
    if (r.exitCode === undefined) throw new Error(`ssh to ${this.name} failed: ${r.failure}`);
    throwIfSshFailed(this.name, r.exitCode, stderr);
    const timedOut = killedAtDeadline(cmd, r.exitCode, durationMs);
    return { exitCode: timedOut ? 124 : r.exitCode, stdout, stderr, durationMs, timedOut };
  }
}
