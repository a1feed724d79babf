// The postgres profile's pure rules: each disk holds a filesystem mounted on the host, the data
// directory below its mount point; replicas are clones of the recovered primary.
import { within } from '../paths.js';
import type { SpecShape } from '../spec.js';
import type { Issue, ProfileModel } from './model.js';

function specRules(spec: SpecShape, issue: Issue): void {
  spec.nodes.forEach((n, i) => {
    if (!n.storage) return;
    if (!n.storage.mountPoint) issue(['nodes', i, 'storage', 'mountPoint'], 'the postgres profile mounts the disk: give mountPoint');
    if (!n.storage.dataDir?.startsWith(`${n.storage.mountPoint}/`))
      issue(['nodes', i, 'storage', 'dataDir'], 'give the standby data directory, below its mountPoint');
  });
  const { mountPoint, dataDir } = spec.storage;
  if (!mountPoint) issue(['storage', 'mountPoint'], 'the postgres profile mounts the shared disk: give mountPoint');
  else if (!dataDir?.startsWith(mountPoint + '/')) issue(['storage', 'dataDir'], `must lie below the mount point ${mountPoint}`);
  // The binaries are prepared beside the storage steps, before the disks are mounted: never from one.
  const mounts = [mountPoint, ...spec.nodes.map((n) => n.storage?.mountPoint)].filter((m): m is string => !!m);
  for (const key of ['dir', 'source'] as const) {
    const path = spec.binaries[key];
    const on = path && mounts.find((m) => within(m, path));
    if (on)
      issue(
        ['binaries', key],
        `${path} is on the disk mounted at ${on}, and the binaries are prepared before it is mounted: give a directory on the host's own disk, or a share it has once it is up`,
      );
  }
  if (spec.drill?.copyMethod === 'pfsd-freeze')
    issue(['drill', 'copyMethod'], 'pfsd-freeze is for the polardb profile (PFS disks); the postgres profile uses fsfreeze');
}

export const postgresModel: ProfileModel<'postgres'> = {
  name: 'postgres',
  specRules,
  // A replica is a clone of the recovered primary: its build waits until the primary serves.
  buildNeedsPrimary: (_spec, node) => node.role === 'replica',
  buildUsesTemplates: () => false,
  // Only the primary's data is on the shared disk; replicas are clones in their local dirs.
  sharedNodes: (spec) => spec.nodes.filter((n) => n.role === 'primary'),
  defaultCopyMethod: 'fsfreeze',
  dataDirOnHost: true,
  socketsInLocalDir: true,
  standbyKeepsLocalDir: false,
};
