// Attaching a disk, the same for every profile: reuse the loop device already bound to the
// image, or bind a free one with direct IO; then give it the stable name /dev/<diskName>.
import type { Disk } from '../model/spec.js';
import type { Cmd } from '../hosts/types.js';

const T = 30_000;
export const diskLink = (disk: Pick<Disk, 'diskName'>): string => `/dev/${disk.diskName}`;

export const imageExists = (image: string): Cmd => ({ argv: ['test', '-f', image], as: 'root', timeoutMs: T });
export const deviceExists = (device: string): Cmd => ({ argv: ['test', '-b', device], as: 'root', timeoutMs: T });
/** `losetup -j` lists the loop devices bound to the image: `/dev/loop3: []: (/data/x.img)`. */
export const findBoundLoop = (image: string): Cmd => ({ argv: ['losetup', '-j', image], as: 'root', timeoutMs: T });
/**
 * In a container /dev is the container's own: the loop devices the kernel has (/sys/block/loopN)
 * get their nodes there (major:minor from sysfs), so `losetup` can see, bind and open them.
 * A constant script; a node already there is left alone; prints the nodes it made.
 */
export const LOOP_NODES_SCRIPT =
  'for d in /sys/block/loop*; do [ -r "$d/dev" ] || continue; n=/dev/${d##*/}; [ -e "$n" ] && continue; mknod "$n" b $(tr : " " <"$d/dev") || exit 1; echo "$n"; done';
export const makeLoopNodes = (): Cmd => ({ argv: ['sh', '-c', LOOP_NODES_SCRIPT], as: 'root', timeoutMs: T });
export const findFreeLoop = (): Cmd => ({ argv: ['losetup', '-f'], as: 'root', timeoutMs: T });
export const bindLoop = (device: string, disk: Disk): Cmd => ({
  argv: ['losetup', ...(disk.directIo ? ['--direct-io=on'] : []), device, disk.image!],
  as: 'root',
  timeoutMs: T,
});
export const readLink = (link: string): Cmd => ({ argv: ['readlink', '--', link], as: 'root', timeoutMs: T });
export const pathExists = (path: string): Cmd => ({ argv: ['test', '-e', path], as: 'root', timeoutMs: T });
export const makeLink = (device: string, link: string): Cmd => ({ argv: ['ln', '-s', device, link], as: 'root', timeoutMs: T });

export function parseBoundLoop(stdout: string): string | undefined {
  const m = /^(\/dev\/loop\d+):/m.exec(stdout);
  return m?.[1];
}
