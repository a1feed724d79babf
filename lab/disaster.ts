// disaster: the seed's catastrophe. The data is fingerprinted first (so a recovery can be proven),
// then every PostgreSQL of the lab crashes (SIGKILL), the primary's and replicas' hosts lose their
// local dirs, and the storage is gone from the machine: no mount, no loop device, no /dev link.
// Left: the image files, the standby's local dir (its host only rebooted), the lab's own files.
import { writeFile } from 'node:fs/promises';
import { nodesOf, primaryOf, type NodeSpec } from '../lib/model/spec.js';
import { docker, runningEngine } from './containers/engine.js';
import { readContainersFile, type ContainersFile } from './containers/topology.js';
import { fingerprint, withDb, type Fingerprint } from '../lib/db.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { DISKS, isBelow, labPaths } from './layout.js';
import type { Lab } from './load.js';
import { detachImage, killPostgresIn, mountPoints, removeLoopLink, sh } from './system.js';

export interface RecordedFingerprint {
  recordedAt: string;
  tables: Fingerprint;
}

/** The image of the shared disk once a storage-lost disaster has moved it out of reach. */
export const lostImage = (image: string): string => `${image}.lost`;

export interface DisasterOptions {
  /**
   * The second disaster: the shared storage is lost. The primary's and replicas' PostgreSQL crash,
   * the shared disk is unmounted and detached and its image moved away (unreadable at its path);
   * their hosts keep their local dirs, and the standby (its own disk, its host) keeps running.
   */
  storageLost?: boolean;
}

export async function disaster(lab: Lab, log: (line: string) => void = () => {}, o: DisasterOptions = {}): Promise<RecordedFingerprint> {
  const { spec } = lab;
  const p = labPaths(lab.id);

  const tables = await withDb(spec, primaryOf(spec), (db) => fingerprint(db, spec.verify.tables), 10_000);
  const recorded: RecordedFingerprint = { recordedAt: new Date().toISOString(), tables };
  await writeFile(p.fingerprintFile, JSON.stringify(recorded, null, 2) + '\n');
  log(`fingerprint of ${Object.keys(tables).join(', ')} written to ${p.fingerprintFile}`);

  const containers = await readContainersFile(p);
  if (o.storageLost && containers) throw new Error(`lab ${lab.id} runs in containers: its storage-lost disaster is not built yet`);
  if (o.storageLost) return storageLost(lab, recorded, log);
  if (containers) return containersLost(lab, containers, recorded, log);

  const dataDirs = new Set(spec.nodes.map((n) => postgresProfile.postmasterDir(spec, n)));
  const killed = await killPostgresIn((cwd) => dataDirs.has(cwd));
  log(`SIGKILLed ${killed.length} PostgreSQL processes in ${[...dataDirs].join(', ')}`);

  for (const n of spec.nodes.filter((x) => x.role !== 'standby')) {
    if (!isBelow(p.hostsDir, n.localDir)) throw new Error(`${n.localDir} is not below ${p.hostsDir}: not removing it`);
    await sh(['rm', '-rf', '--one-file-system', '--', n.localDir]);
    log(`host ${n.name} destroyed: ${n.localDir} removed`);
  }

  const mounted = await mountPoints();
  for (const d of DISKS) {
    if (mounted.includes(p.mountPoint[d])) {
      await sh(['umount', '--', p.mountPoint[d]]);
      log(`unmounted ${p.mountPoint[d]}`);
    }
    for (const dev of await detachImage(p.image[d])) log(`detached ${dev} from ${p.image[d]}`);
    if (await removeLoopLink(p.link[d])) log(`removed ${p.link[d]}`);
  }
  return recorded;
}

/**
 * The seed's disaster in the container lab: `docker rm -f` of the primary's and replicas' containers
 * (their local dirs go with them) and a restart of the standby's (its processes, mount, loop device
 * node and /dev link gone; its local dir, on a volume, kept). The engine's restart took every loop
 * device with it: here they are detached from this machine.
 */
async function containersLost(
  lab: Lab,
  c: ContainersFile,
  recorded: RecordedFingerprint,
  log: (line: string) => void,
): Promise<RecordedFingerprint> {
  const { spec } = lab;
  const p = labPaths(lab.id);
  const engine = await runningEngine(c.engineRoot);
  if (!engine) throw new Error(`the lab's Docker engine at ${c.engineRoot} does not run`);
  const containerOf = (n: NodeSpec) => (n.host.transport === 'docker' ? n.host.container : undefined);
  const lost = spec.nodes.filter((n) => n.role !== 'standby').flatMap((n) => containerOf(n) ?? []);
  await docker(engine, ['rm', '-f', ...lost]);
  log(`docker rm -f ${lost.join(' ')}: the primary's and replicas' hosts are gone`);
  for (const s of nodesOf(spec, 'standby').flatMap((n) => containerOf(n) ?? [])) {
    await docker(engine, ['restart', '-t', '0', s]);
    log(`docker restart ${s}: its processes, mount and /dev link are gone, its local dir (a volume) is kept`);
  }
  for (const d of DISKS) for (const dev of await detachImage(p.image[d])) log(`detached ${dev} from ${p.image[d]}`);
  return recorded;
}

async function storageLost(lab: Lab, recorded: RecordedFingerprint, log: (line: string) => void): Promise<RecordedFingerprint> {
  const { spec } = lab;
  const p = labPaths(lab.id);
  const dataDirs = new Set(spec.nodes.filter((n) => n.role !== 'standby').map((n) => postgresProfile.postmasterDir(spec, n)));
  const killed = await killPostgresIn((cwd) => dataDirs.has(cwd));
  log(`SIGKILLed ${killed.length} PostgreSQL processes in ${[...dataDirs].join(', ')}; the standby keeps running`);
  if ((await mountPoints()).includes(p.mountPoint.shared)) {
    await sh(['umount', '--', p.mountPoint.shared]);
    log(`unmounted ${p.mountPoint.shared}`);
  }
  for (const dev of await detachImage(p.image.shared)) log(`detached ${dev} from ${p.image.shared}`);
  if (await removeLoopLink(p.link.shared)) log(`removed ${p.link.shared}`);
  await sh(['mv', '--', p.image.shared, lostImage(p.image.shared)]);
  log(`the shared storage is lost: ${p.image.shared} moved to ${lostImage(p.image.shared)}`);
  return recorded;
}
