// A private Docker engine for the container lab: Debian's dockerd with its own data root, exec
// root, socket and pid file, all under one directory, so it never meets another engine on the
// machine. No default bridge, no iptables rules, no NAT: the lab makes its own network, reached
// from this machine at the containers' bridge addresses only. Stopped by the PID it wrote.
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { exists, until } from '../system.js';

export interface Engine {
  root: string;
  /** unix:///…/docker.sock: what DOCKER_HOST must say for the docker client to reach it. */
  dockerHost: string;
  pid: number;
}

/** Where the lab's engine lives unless POLAR_DOCKER_ROOT says otherwise. */
export const engineRoot = (): string => (process.env.POLAR_DOCKER_ROOT ?? '/var/lib/polar-runbook/docker').replace(/\/+$/, '');

const paths = (root: string) => ({
  data: join(root, 'data'),
  exec: join(root, 'exec'),
  socket: join(root, 'docker.sock'),
  pidFile: join(root, 'dockerd.pid'),
  log: join(root, 'dockerd.log'),
});

/** Runs the docker client against the engine; throws with its stderr. */
export async function docker(engine: Pick<Engine, 'dockerHost'>, args: string[], timeoutMs = 120_000, input?: string): Promise<string> {
  const r = await execa('docker', args, {
    reject: false,
    timeout: timeoutMs,
    input,
    stdin: input === undefined ? 'ignore' : undefined,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', DOCKER_HOST: engine.dockerHost, LC_ALL: 'C' },
  });
  if (r.exitCode !== 0) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : (r.stderr || r.stdout || `exit ${r.exitCode}`).trim();
    throw new Error(`docker ${args.join(' ')} failed: ${why}`);
  }
  return r.stdout;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function pidOf(root: string): Promise<number | undefined> {
  const text = await readFile(paths(root).pidFile, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** The engine already running at `root`, if its daemon answers. */
export async function runningEngine(root = engineRoot()): Promise<Engine | undefined> {
  const pid = await pidOf(root);
  if (pid === undefined) return undefined;
  const engine = { root, dockerHost: `unix://${paths(root).socket}`, pid };
  const ok = await docker(engine, ['version', '--format', '{{.Server.Version}}'], 10_000).then(
    () => true,
    () => false,
  );
  return ok ? engine : undefined;
}

/**
 * The engine at `root`: the running one, else a new dockerd started detached (it outlives this
 * process: the lab CLI's commands share it; stopEngine ends it).
 */
export async function startEngine(root = engineRoot(), log: (line: string) => void = () => {}): Promise<Engine> {
  const running = await runningEngine(root);
  if (running) return running;
  if (!(await exists('/usr/sbin/dockerd')))
    throw new Error('dockerd is not installed: run `npm run setup` (it installs Debian’s docker.io)');
  const p = paths(root);
  await mkdir(root, { recursive: true, mode: 0o711 });
  await rm(p.socket, { force: true });
  const out = await open(p.log, 'a');
  const child = spawn(
    '/usr/sbin/dockerd',
    [
      ...['--data-root', p.data, '--exec-root', p.exec, '--host', `unix://${p.socket}`, '--pidfile', p.pidFile],
      // No docker0 (its default 172.17.0.0/16 could meet a real network), no iptables rules or NAT:
      // the lab's own bridge network is all there is, and nothing in it reaches out.
      ...['--bridge', 'none', '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false'],
      ...['--log-level', 'warn'],
    ],
    { detached: true, stdio: ['ignore', out.fd, out.fd], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } },
  );
  child.unref();
  await out.close();
  const engine: Engine = { root, dockerHost: `unix://${p.socket}`, pid: child.pid! };
  log(`dockerd started (pid ${engine.pid}, ${engine.dockerHost}, log ${p.log})`);
  try {
    await until('dockerd to answer', 60_000, async () => {
      if (!alive(engine.pid))
        throw new Error(`dockerd exited at once: ${(await readFile(p.log, 'utf8')).trim().split('\n').slice(-5).join(' / ')}`);
      return docker(engine, ['version', '--format', '{{.Server.Version}}'], 10_000).then(
        () => true as const,
        (err: Error) => err.message,
      );
    });
  } catch (err) {
    await stopEngine(engine).catch(() => {});
    throw err;
  }
  return engine;
}

/** Ends the engine's dockerd by its PID (TERM, then KILL after 30 s) and waits until it is gone. */
export async function stopEngine(engine: Pick<Engine, 'pid' | 'root'>, log: (line: string) => void = () => {}): Promise<void> {
  if (!alive(engine.pid)) return;
  process.kill(engine.pid, 'SIGTERM');
  for (let waited = 0; alive(engine.pid); waited += 200) {
    if (waited === 30_000) process.kill(engine.pid, 'SIGKILL');
    if (waited > 60_000) throw new Error(`dockerd ${engine.pid} did not exit`);
    await sleep(200);
  }
  log(`dockerd ${engine.pid} stopped`);
}

/**
 * Stops the lab's engine (at `root`) when no container is left in it: the CLI's destroy of the last
 * container lab leaves nothing running. Its data root (the imported host image) is kept for the next lab.
 */
export async function stopIdleEngine(log: (line: string) => void = () => {}, root = engineRoot()): Promise<void> {
  const engine = await runningEngine(root);
  if (!engine) return;
  if ((await docker(engine, ['ps', '-aq'], 30_000)).trim() !== '') return;
  await stopEngine(engine, log);
}

/** Stops the engine and removes its directory (a test's own engine), never reaching into a mount. */
export async function removeEngine(engine: Engine, log: (line: string) => void = () => {}): Promise<void> {
  await stopEngine(engine, log);
  const mounts = (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${engine.root}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execa('umount', ['-l', '--', m], { reject: false });
  await execa('rm', ['-rf', '--one-file-system', '--', engine.root], { reject: false });
}
