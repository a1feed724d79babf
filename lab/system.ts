// What the kernel knows about a lab (its PostgreSQL processes, mounts, loop devices, /dev links)
// and the few root actions on them. Everything is selected by the lab's own paths and names.
import { lstat, readdir, readFile, readlink, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/** Runs a command as the current user (root); throws with its stderr. */
export async function sh(argv: string[], timeoutMs = 120_000): Promise<string> {
  const [file, ...args] = argv;
  const r = await execa(file!, args, { reject: false, timeout: timeoutMs, stdin: 'ignore', env: { LC_ALL: 'C' } });
  if (r.exitCode !== 0) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : (r.stderr || r.stdout || `exit ${r.exitCode}`).trim();
    throw new Error(`${argv.join(' ')} failed: ${why}`);
  }
  return r.stdout;
}

/** Polls `check` (true when done, else what is still missing) until done or the time is up. */
export async function until(what: string, timeoutMs: number, check: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await check();
    if (r === true) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}: ${r}`);
    await sleep(200);
  }
}

export const exists = (path: string): Promise<boolean> =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** /proc links of a deleted target end in " (deleted)": compare the path itself. */
const DELETED = / \(deleted\)$/;
const linkOf = (path: string): Promise<string | undefined> =>
  readlink(path).then(
    (t) => t.replace(DELETED, ''),
    () => undefined, // the process is gone, or a kernel thread
  );

/**
 * PIDs of PostgreSQL processes whose working directory satisfies `where`: a postmaster and all
 * its children run in their data directory. Other programs (an operator's shell) are left alone.
 */
export async function postgresIn(where: (cwd: string) => boolean): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cwd = await linkOf(`/proc/${e}/cwd`);
    if (cwd === undefined || !where(cwd)) continue;
    const exe = await linkOf(`/proc/${e}/exe`);
    if (exe !== undefined && basename(exe) === 'postgres') pids.push(Number(e));
  }
  return pids;
}

/** True while `pid` is a zombie: killed, but not yet reaped by its parent (init, for a daemon). */
async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/**
 * SIGKILL, a crash rather than a stop; rounds until none is left (a postmaster may fork meanwhile).
 * Then waits until init has reaped them: a zombie's PID still answers kill(pid, 0), so the stale
 * postmaster.pid would look alive to `pg_ctl status` and to the next postmaster's lock file check.
 */
export async function killPostgresIn(where: (cwd: string) => boolean, timeoutMs = 30_000): Promise<number[]> {
  const killed = new Set<number>();
  await until('PostgreSQL processes to die after SIGKILL', timeoutMs, async () => {
    const pids = await postgresIn(where);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    return pids.length === 0 ? true : `still running: ${pids.join(', ')}`;
  });
  await until('the killed PostgreSQL processes to be reaped', timeoutMs, async () => {
    const zombies: number[] = [];
    for (const pid of killed) if (await isZombie(pid)) zombies.push(pid);
    return zombies.length === 0 ? true : `zombies: ${zombies.join(', ')}`;
  });
  return [...killed];
}

/** Mount points from /proc/mounts (its octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** `losetup -j` lists the loop devices bound to the image (by inode, so links in the path do not matter). */
export async function loopsOf(image: string): Promise<string[]> {
  if (!(await exists(image))) return [];
  const out = await sh(['losetup', '-j', image]);
  return [...out.matchAll(/^(\/dev\/loop\d+):/gm)].map((m) => m[1]!);
}

/** Detaches every loop device bound to the image and waits until the kernel has let go. */
export async function detachImage(image: string): Promise<string[]> {
  const devices = await loopsOf(image);
  for (const d of devices) await sh(['losetup', '-d', d]);
  await until(`the loop devices of ${image} to detach`, 30_000, async () => {
    const left = await loopsOf(image);
    return left.length === 0 ? true : `still bound: ${left.join(', ')}`;
  });
  return devices;
}

/** Where a /dev link points, when it is a link. */
export async function linkTarget(link: string): Promise<string | undefined> {
  const st = await lstat(link).catch(() => undefined);
  return st?.isSymbolicLink() ? readlink(link) : undefined;
}

/** Removes the link when it points to a loop device; a real device node or any other link is left alone. */
export async function removeLoopLink(link: string): Promise<boolean> {
  const target = await linkTarget(link);
  if (target === undefined || !/^\/dev\/loop\d+$/.test(target)) return false;
  await unlink(link);
  return true;
}
