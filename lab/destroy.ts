// destroyLab: from any state (half built, after the disaster, after a recovery) back to nothing.
// Works from the id alone and only on what the id names: processes running below the lab root,
// mounts below it, loop devices bound to its images, its two /dev links, the root itself.
import { join } from 'node:path';
import { DISKS, isBelow, labPaths } from './layout.js';
import { LAB_MARKER, listLabs, type Lab } from './load.js';
import { readContainersFile, removeContainers } from './containers/topology.js';
import { detachImage, exists, killPostgresIn, mountPoints, removeLoopLink, sh } from './system.js';

export async function destroyLab(lab: Lab | string, log: (line: string) => void = () => {}): Promise<void> {
  const id = typeof lab === 'string' ? lab : lab.id;
  const p = labPaths(id);
  if ((await exists(p.root)) && !(await exists(join(p.root, LAB_MARKER))))
    throw new Error(`${p.root} has no ${LAB_MARKER} marker: not a lab, left alone`);
  const below = (path: string) => path === p.root || isBelow(p.root, path);

  // A container lab: its containers (and the mounts and processes in them) and its network first.
  const containers = await readContainersFile(p);
  if (containers) await removeContainers(containers, (line) => log(`${id}: ${line}`));

  const killed = await killPostgresIn(below);
  if (killed.length) log(`${id}: killed ${killed.length} PostgreSQL processes`);

  const problems: string[] = [];
  // Deepest first: a mount inside another comes off before its parent.
  for (const m of (await mountPoints()).filter(below).sort((a, b) => b.length - a.length)) {
    await sh(['umount', '--', m]).then(
      () => log(`${id}: unmounted ${m}`),
      (err: Error) => problems.push(err.message),
    );
  }
  for (const d of DISKS) {
    await detachImage(p.image[d]).then(
      (devs) => devs.forEach((dev) => log(`${id}: detached ${dev} from ${p.image[d]}`)),
      (err: Error) => problems.push(err.message),
    );
    if (await removeLoopLink(p.link[d])) log(`${id}: removed ${p.link[d]}`);
  }
  // rm must never reach into a filesystem that is still mounted below the root.
  const stillMounted = (await mountPoints()).filter(below);
  if (stillMounted.length) problems.push(`still mounted: ${stillMounted.join(', ')}`);
  if (problems.length) throw new Error(`lab ${id} not destroyed, ${p.root} kept:\n  - ${problems.join('\n  - ')}`);

  if (await exists(p.root)) {
    await sh(['rm', '-rf', '--one-file-system', '--', p.root], 30 * 60_000);
    log(`${id}: removed ${p.root}`);
  }
}

/** Every lab under the labs root (after a crashed test run). */
export async function destroyAllLabs(log: (line: string) => void = () => {}): Promise<string[]> {
  const ids = await listLabs();
  for (const id of ids) await destroyLab(id, log);
  return ids;
}
