// The polardb profile's pure rules: every node on the shared storage mounts PFS with its own
// polar_hostid, data paths are PFS paths, and a node's local skeleton comes from PFS.
import type { SpecShape } from '../spec.js';
import { promotedStandby, type Issue, type ProfileModel } from './model.js';

function specRules(spec: SpecShape, issue: Issue): void {
  spec.nodes.forEach((n, i) => {
    if (n.role !== 'standby' && n.hostId === undefined)
      issue(['nodes', i, 'hostId'], 'polardb nodes on the shared storage need a polar_hostid');
  });
  if (!new RegExp(`^/${spec.storage.diskName}/[^/]`).test(spec.storage.dataDir ?? ''))
    issue(['storage', 'dataDir'], `a PFS path must name a directory below /${spec.storage.diskName}/`);
  // start_pfsd.sh finds its daemon with `grep -w <disk>`: nvme1n1 would match nvme1n1-b.
  const disks = [spec.storage.diskName, ...spec.nodes.flatMap((n) => (n.storage ? [n.storage.diskName] : []))];
  disks.forEach(
    (d) =>
      d.includes('-') && issue(['storage', 'diskName'], `PFS disk name ${d} must not contain "-" (pfsd tells disks apart by whole words)`),
  );
  if (spec.drill?.copyMethod === 'fsfreeze')
    issue(['drill', 'copyMethod'], 'PFS is not a filesystem the host can freeze: use pfsd-freeze or a snapshot command');
  if (!spec.failover) return;
  const standby = promotedStandby(spec);
  if (standby && standby.hostId === undefined)
    issue(['nodes', spec.nodes.indexOf(standby), 'hostId'], 'the standby a polardb failover promotes needs its polar_hostid (hostId)');
  spec.failover.replicasAfter.forEach((r, i) => {
    if (r.hostId === undefined)
      issue(['failover', 'replicasAfter', i, 'hostId'], 'polardb nodes on the shared storage need a polar_hostid');
  });
}

export const polardbModel: ProfileModel<'polardb'> = {
  name: 'polardb',
  specRules,
  // Every node's local skeleton comes from PFS (`polar-initdb.sh ... replica`): a replica builds
  // while the primary builds and starts; only its start waits. A standby rebuilds from its own disk.
  buildNeedsPrimary: () => false,
  // The standby keeps its local dir: only the nodes rebuilt copy templates.
  buildUsesTemplates: (_spec, node) => node.role !== 'standby',
  // The read-write and read-only nodes all mount the one PFS disk.
  sharedNodes: (spec) => spec.nodes.filter((n) => n.role !== 'standby'),
  // No default copy method: PFS cannot be frozen by the host.
  dataDirOnHost: false,
  socketsInLocalDir: false,
  standbyKeepsLocalDir: true,
};
