// disaster: the seed's catastrophe. The data is fingerprinted first (so a recovery can be proven),
// then every PostgreSQL of the lab crashes (SIGKILL), the primary's and replicas' hosts lose their
// local dirs, and the storage is gone from the machine: no mount, no loop device, no /dev link.
// Left: the image files, the standby's local dir (its host only rebooted), the lab's own files.
import { writeFile } from 'node:fs/promises';
import { primaryOf } from '../common/spec.js';
import { fingerprint, withDb, type Fingerprint } from '../activities/db.js';
import { postgresProfile } from '../activities/profiles/postgres.js';
import { DISKS, isBelow, labPaths } from './layout.js';
import type { Lab } from './load.js';
import { detachImage, killPostgresIn, mountPoints, removeLoopLink, sh } from './system.js';

export interface RecordedFingerprint {
  recordedAt: string;
  tables: Fingerprint;
}

export async function disaster(lab: Lab, log: (line: string) => void = () => {}): Promise<RecordedFingerprint> {
  const { spec } = lab;
  const p = labPaths(lab.id);

  const tables = await withDb(spec, primaryOf(spec), (db) => fingerprint(db, spec.verify.tables), 10_000);
  const recorded: RecordedFingerprint = { recordedAt: new Date().toISOString(), tables };
  await writeFile(p.fingerprintFile, JSON.stringify(recorded, null, 2) + '\n');
  log(`fingerprint of ${Object.keys(tables).join(', ')} written to ${p.fingerprintFile}`);

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
