// Attaching a disk: bind the disk image to a loop device (or use the SAN device) and give it its
// stable name. Reuses what is there, never overwrites a link that points elsewhere.
import type { ClusterSpec, Disk, NodeSpec } from './model/spec.js';
import { failure } from './failures.js';
import { renderCmd, type Cmd, type CmdResult, type Host } from './hosts/types.js';
import { must, settle, type Journal } from './ops.js';
import * as S from './profiles/storage.js';

export type Which = 'shared' | 'own';
export const diskOf = (spec: ClusterSpec, node: NodeSpec, which: Which): Disk => (which === 'shared' ? spec.storage : node.storage!);

/** The loop device nodes in a container's own /dev; journaled only when some had to be made. */
async function loopNodes(host: Host, j: Journal): Promise<void> {
  const cmd = S.makeLoopNodes();
  const made = (await must(host, cmd)).stdout.trim();
  if (made) j.ran(host.name, `${renderCmd(cmd, host.dbUser)}  # made ${made.split('\n').join(' ')}`);
}

async function findDevice(host: Host, disk: Disk, j: Journal, ownDev: boolean): Promise<string> {
  if (disk.device) {
    if ((await host.run(S.deviceExists(disk.device))).exitCode !== 0)
      throw failure('StorageMissing', `on ${host.name}: block device ${disk.device} is not there`);
    return disk.device;
  }
  const image = disk.image!;
  if (ownDev) await loopNodes(host, j);
  // Already bound: all a host that attached before needs to ask.
  const boundNow = await host.run(S.findBoundLoop(image));
  const bound = boundNow.exitCode === 0 ? S.parseBoundLoop(boundNow.stdout) : undefined;
  if (bound) {
    j.skipped.push(`${host.name}: ${image} is already bound to ${bound}`);
    return bound;
  }
  // Else whether the image is there and a free device, at once (reads only); a missing image is
  // the cause named first.
  let freeAsked = settle(must(host, S.findFreeLoop()));
  if ((await host.run(S.imageExists(image))).exitCode !== 0) {
    await freeAsked;
    throw failure('StorageMissing', `on ${host.name}: disk image ${image} is not there`);
  }
  // `losetup -j` failed on an image that is there: asked again, for its own words.
  if (boundNow.exitCode !== 0) await must(host, S.findBoundLoop(image));
  // Another process may take the free device between `losetup -f` and the bind: ask again.
  for (let tries = 1; ; tries++) {
    j.ran(host.name, renderCmd(S.findFreeLoop(), host.dbUser));
    const free = (await freeAsked)().stdout.trim();
    // Asking for a free device may have made a new one: its node too.
    if (ownDev) await loopNodes(host, j);
    try {
      await must(host, S.bindLoop(free, disk), j);
      j.changed = true;
      return free;
    } catch (err) {
      const now = S.parseBoundLoop((await must(host, S.findBoundLoop(image))).stdout);
      if (now) return now;
      if (tries >= 5) throw err;
      freeAsked = settle(must(host, S.findFreeLoop()));
    }
  }
}

/** `target`: what `readlink` said before anything was done. True when it made the link. */
async function ensureLink(host: Host, device: string, link: string, target: CmdResult, j: Journal): Promise<boolean> {
  if (target.exitCode === 0) {
    const to = target.stdout.trim();
    if (to === device) {
      j.skipped.push(`${host.name}: ${link} already points to ${device}`);
      return false;
    }
    throw failure('LinkConflict', `on ${host.name}: ${link} points to ${to}, not to ${device}; it was left alone`);
  }
  if ((await host.run(S.pathExists(link))).exitCode === 0)
    throw failure('LinkConflict', `on ${host.name}: ${link} exists and is not a link; it was left alone`);
  await must(host, S.makeLink(device, link), j);
  j.changed = true;
  return true;
}

const isBlockDevice = (link: string): Cmd => ({ argv: ['test', '-b', link], as: 'root' });

/**
 * Idempotent: finds or makes the loop device and the link; returns the device. `ownDev`: the host
 * is a container with a /dev of its own, where the loop device nodes are made first. The link is
 * asked about beside the device's questions, in one round trip: binding a device never touches
 * it, and a link that was already right still leads where it did.
 */
export async function attach(host: Host, disk: Disk, j: Journal, ownDev = false): Promise<string> {
  const link = S.diskLink(disk);
  const [device, target, block] = await Promise.all([
    findDevice(host, disk, j, ownDev),
    host.run(S.readLink(link)),
    host.run(isBlockDevice(link)),
  ]);
  // A link already right leads where it did: `block` holds; a new one is asked now (and in a
  // container, where finding the device may have just made its node).
  const made = await ensureLink(host, device, link, target, j);
  if ((made || ownDev ? await host.run(isBlockDevice(link)) : block).exitCode !== 0)
    throw failure('StorageMissing', `on ${host.name}: ${link} does not lead to a block device`, true);
  j.verified.push(`${host.name}: ${link} -> ${device} is a block device`);
  return device;
}
