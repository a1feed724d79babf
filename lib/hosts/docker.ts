// The docker transport: `docker exec` into a running container, argv passed through as is.
import { workerVars } from './local.js';
import { COMMAND_ENV, startProcess } from './process.js';
import { cancellableRemote, farSideArgv, killedAtDeadline, remoteTimeoutSeconds } from './quote.js';
import { CommandCancelled, HostGone, HostUnreachable, type Cmd, type CmdResult, type Host } from './types.js';

/** The full argv (starting with `docker`) that runs `cmd` in the container. */
export function dockerArgv(cmd: Cmd, dbUser: string, container: string, runId?: string): string[] {
  return [
    'docker',
    'exec',
    ...(cmd.input === undefined ? [] : ['-i']),
    ...['-u', cmd.as === 'root' ? 'root' : dbUser],
    container,
    ...farSideArgv(cmd, runId),
  ];
}

// The docker client's own failures (no daemon, no such container, container stopped) exit 1 with
// these; a command that cannot be started exits 126 or 127 instead.
const DOCKER_ERROR = /^(Error response from daemon: |Cannot connect to the Docker daemon|error during connect: )/m;

/** The worker's environment the docker client needs: its daemon (DOCKER_HOST) and config (HOME); nothing else. */
const clientEnv = () => ({ ...COMMAND_ENV, ...workerVars(['HOME', 'DOCKER_HOST', 'DOCKER_CONFIG', 'DOCKER_CONTEXT']) });

/** Runs the docker client itself on the worker (inspect, run, start): its exit code and output. */
export async function dockerClient(args: string[], timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await startProcess('docker', args, { timeoutMs, env: clientEnv() }).result;
  if (r.exitCode === undefined) throw new HostUnreachable('docker', r.failure ?? 'the docker client did not run');
  const stderr = r.stderr ?? '';
  if (r.exitCode !== 0 && /Cannot connect to the Docker daemon|error during connect: /.test(stderr))
    throw new HostUnreachable('docker', stderr.trim());
  return { exitCode: r.exitCode, stdout: r.stdout, stderr };
}

/** The container is not there, or not running: nothing of the node can run in it. */
const CONTAINER_GONE = /^Error response from daemon: (No such container: |Container [0-9a-f]+ is not running)/m;

export class DockerHost implements Host {
  constructor(
    readonly name: string,
    readonly dbUser: string,
    private readonly container: string,
  ) {}

  async run(cmd: Cmd): Promise<CmdResult> {
    const started = Date.now();
    const { value: r, cancelled } = await cancellableRemote(
      cmd,
      (runId) => {
        const [file, ...args] = dockerArgv(cmd, this.dbUser, this.container, runId);
        const child = startProcess(file!, args, {
          input: cmd.input,
          // A backstop: killing the client leaves the exec'd process running, the in-container timeout ends it.
          timeoutMs: cmd.timeoutMs === undefined ? undefined : (remoteTimeoutSeconds(cmd.timeoutMs) + 5) * 1000,
          env: clientEnv(),
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
    if (r.exitCode === undefined) throw new Error(`docker exec on ${this.name} failed: ${r.failure}`);
    if (r.exitCode === 1 && CONTAINER_GONE.test(stderr)) throw new HostGone(this.name, stderr.trim());
    if (r.exitCode === 1 && DOCKER_ERROR.test(stderr)) throw new HostUnreachable(this.name, stderr.trim());
    const timedOut = killedAtDeadline(cmd, r.exitCode, durationMs);
    return { exitCode: timedOut ? 124 : r.exitCode, stdout, stderr, durationMs, timedOut };
  }
}
