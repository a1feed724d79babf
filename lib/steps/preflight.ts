// preflight: what can be checked without touching anything is checked before anything is
// touched. A recovery that must stop for a reason no retry can fix stops here, with the disks and
// every local dir as they were (no loop device bound, nothing linked or mounted, no superblock
// written): a disk image or device that is not there (StorageMissing), the shared disk given as a
// standby's own disk too (WrongCluster), a local dir holding data this runbook did not create
// (ForeignDataDir). Read-only: it runs no command that acts.
import type { ClusterSpec, Disk, NodeSpec } from '../model/spec.js';
import { primaryOf } from '../model/spec.js';
import { failure } from '../failures.js';
import type { Host } from '../hosts/types.js';
import { settle } from '../ops.js';
import { permanentCause } from '../model/failures.js';
import type { StepEnv } from './env.js';
import { refuseForeignDir } from './node.js';

/** A sparse image needs room on the filesystem that holds it as the database writes into it. */
const MIN_ROOM_BYTES = 64 * 1024 * 1024;

/**
 * The disk can be written (not immutable, not on a read-only filesystem or LUN) and, for a sparse
 * image, its filesystem has room: opened for appending nothing, so nothing changes. Says what it found.
 */
async function writable(host: Host, disk: Disk, field: string): Promise<string | undefined> {
  const path = disk.image ?? disk.device!;
  if (disk.device) {
    const ro = await host.run({ argv: ['blockdev', '--getro', disk.device], as: 'root', timeoutMs: 30_000 });
    if (ro.exitCode === 0 && ro.stdout.trim() === '1')
      throw failure('StorageReadOnly', `on ${host.name}: block device ${path} is read-only (${field})`);
    return undefined;
  }
  // The room is asked beside the write test (a read; the image is there).
  const [w, st] = await Promise.all([
    host.run({ argv: ['sh', '-c', ': >>"$0"', path], as: 'root', timeoutMs: 30_000 }),
    host.run({ argv: ['sh', '-c', 'stat -c "%s %b %B" -- "$0" && df -P -B1 -- "$0" | tail -n 1', path], as: 'root', timeoutMs: 30_000 }),
  ]);
  if (w.exitCode !== 0) {
    const said = (w.stderr || w.stdout).trim();
    const type = /Operation not permitted|Read-only file system/i.test(said)
      ? 'StorageReadOnly'
      : (permanentCause(said) ?? 'PermissionDenied');
    throw failure(type, `on ${host.name}: disk image ${path} cannot be written (${field}): ${said}`);
  }
  const [size, blocks, blockSize] = (st.stdout.split('\n')[0] ?? '').split(' ').map(Number);
  const avail = Number((st.stdout.split('\n')[1] ?? '').trim().split(/\s+/)[3]);
  const sparse = size! > blocks! * blockSize!;
  if (st.exitCode === 0 && sparse && Number.isFinite(avail) && avail < MIN_ROOM_BYTES)
    throw failure(
      'StorageFull',
      `on ${host.name}: the filesystem holding the sparse image ${path} has ${avail} bytes free (${field}): No space left on device`,
    );
  return `${host.name}: ${field}: ${path} is writable${sparse ? `, ${Math.floor(avail / 1048576)} MiB free for it` : ''}`;
}

export async function preflight({ hostFor, j }: StepEnv, spec: ClusterSpec): Promise<void> {
  const disks: { field: string; node: NodeSpec; disk: Disk }[] = [
    { field: 'storage', node: primaryOf(spec), disk: spec.storage },
    ...spec.nodes.flatMap((n) => (n.storage ? [{ field: `nodes.${n.name}.storage`, node: n, disk: n.storage }] : [])),
  ];
  const dirs = spec.nodes.filter((n) => n.role !== 'standby');
  // Every disk and local dir is looked at at once (reads only); the causes are named in the order
  // the checks are listed: each disk (there, not twice, writable), then the local dirs.
  const isThere = (disk: Disk, kind: string | undefined) =>
    disk.image ? kind === 'regular file' || kind === 'regular empty file' : kind === 'block special file';
  const [diskReads, dirReads] = await Promise.all([
    Promise.all(
      disks.map(async ({ field, node, disk }) => {
        const path = disk.image ?? disk.device!;
        // %F: regular file or block special file; a file is itself by device:inode, a block device by major:minor.
        const st = await hostFor(node).run({ argv: ['stat', '-L', '-c', '%F|%d:%i|%t:%T', '--', path], as: 'root', timeoutMs: 30_000 });
        // Only a disk that is there is opened: appending nothing to a missing path would create it.
        const there = st.exitCode === 0 && isThere(disk, st.stdout.trim().split('|')[0]);
        return { st, room: there ? await settle(writable(hostFor(node), disk, field)) : undefined };
      }),
    ),
    Promise.all(dirs.map((node) => settle(refuseForeignDir(hostFor(node), node)))),
  ]);
  const seen = new Map<string, string>();
  for (const [i, { field, node, disk }] of disks.entries()) {
    const host = hostFor(node);
    const path = disk.image ?? disk.device!;
    const { st, room } = diskReads[i]!;
    const [kind, inode, numbers] = st.stdout.trim().split('|');
    if (!room)
      throw failure('StorageMissing', `on ${host.name}: ${disk.image ? 'disk image' : 'block device'} ${path} is not there (${field})`);
    // The same disk twice on one machine: the shared storage cannot be a standby's own copy too.
    const id = `${JSON.stringify(node.host)}|${disk.image ? inode : numbers}`;
    const other = seen.get(id);
    if (other !== undefined)
      throw failure('WrongCluster', `on ${host.name}: ${field} (${path}) is the same disk as ${other}; nothing was attached`);
    seen.set(id, `${field} (${path})`);
    j.verified.push(`${host.name}: ${field}: ${path} is there (${kind})`);
    const said = room();
    if (said) j.verified.push(said);
  }
  for (const [i, node] of dirs.entries()) {
    dirReads[i]!();
    j.verified.push(`${node.name}: ${node.localDir} is absent, empty or built by polar-runbook`);
  }
}
