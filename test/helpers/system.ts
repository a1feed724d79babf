// What the kernel and the files say about a lab, independent of the runbook's own report: loop
// devices bound to an image, mounts, links, PostgreSQL starts in a node's log, processes working
// on a path, a digest of an image file. Read-only, except killProcesses (our own test's targets).
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { execa } from 'execa';

/** Loop devices bound to the image (`losetup -j`). */
export async function loopsOf(image: string): Promise<string[]> {
  if (!existsSync(image)) return [];
  const out = (await execa('losetup', ['-j', image])).stdout;
  return [...out.matchAll(/^(\/dev\/loop\d+):/gm)].map((m) => m[1]!);
}

/** How many times `path` is a mount point right now. */
export function mountsAt(path: string): number {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === path).length;
}

export function linkTargetOf(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}

/** Byte size of a file, 0 when it is not there: a later count reads only what came after. */
export const sizeOf = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

/** How many times PostgreSQL started (its log's "starting PostgreSQL" line) in `log` after byte `from`. */
export function postgresStarts(log: string, from = 0): number {
  if (!existsSync(log)) return 0;
  return (
    readFileSync(log)
      .subarray(from)
      .toString('utf8')
      .match(/starting PostgreSQL/g) ?? []
  ).length;
}

/** PIDs of processes whose command line has `arg` as one of its words. */
export function processesWithArg(arg: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.includes(arg)) pids.push(Number(e));
  }
  return pids;
}

/** Sends `signal` to each PID (gone already is fine). */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

/** Waits until none of the PIDs is alive. */
export async function waitGone(pids: number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const alive = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  };
  while (pids.some(alive)) {
    if (Date.now() > deadline) throw new Error(`processes still alive after ${timeoutMs} ms: ${pids.filter(alive).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// SHA-256 of the image's content, fast: the lab's images are sparse 2 GB files with a few hundred
// MB written, and hashing all of it takes ten seconds. Holes read as zeros, so the content is
// fully given by the file size and the offsets and bytes of its non-zero 64 KiB chunks: only the
// ranges SEEK_DATA reports are read (aligned to 64 KiB), and all-zero chunks are skipped, so the
// digest does not depend on how the filesystem happens to report its extents (ext4 reports a
// freshly written sparse file's ranges differently for a while). Equal digests: equal content.
const DIGEST = `
import hashlib, os, sys
CHUNK = 1 << 16
ZERO = bytes(CHUNK)
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
h = hashlib.sha256(b"%d\\n" % size)
pos = 0
while pos < size:
    try:
        start = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, start, os.SEEK_HOLE)
    at = start - start % CHUNK
    end = min(size, end + (-end) % CHUNK)
    os.lseek(fd, at, os.SEEK_SET)
    while at < end:
        chunk = os.read(fd, min(CHUNK, end - at))
        if not chunk:
            break
        if chunk != ZERO[: len(chunk)]:
            h.update(b"%d:" % at)
            h.update(chunk)
        at += len(chunk)
    pos = max(pos, end)
print(h.hexdigest(), size)
`;

/** A digest of the image's whole content (see DIGEST): equal before and after means untouched. */
export async function imageDigest(image: string): Promise<string> {
  return (await execa('python3', ['-c', DIGEST, image])).stdout.trim();
}
