// preflight: what can be checked without touching anything is checked before anything is
// touched. A recovery that must stop for a reason no retry can fix stops here, with the disks and
// every local dir as they were (no loop device bound, nothing linked or mounted, no superblock
// written): a disk image or device that is not there (StorageMissing), the shared disk given as a
// standby's own disk too (WrongCluster), a local dir holding data this runbook did not create
// (ForeignDataDir). Read-only: it runs no command that acts.
import type { ClusterSpec, Disk, NodeSpec } from '../common/spec.js';
import { primaryOf } from '../common/spec.js';
import type { StepResult } from '../common/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { failure } from './failures.js';
import { refuseForeignDir } from './node.js';

export const createPreflightActivities = (deps: ActivityDeps) => ({
  async preflight(spec: ClusterSpec): Promise<StepResult> {
    const j = journalOf(deps);
    const disks: { field: string; node: NodeSpec; disk: Disk }[] = [
      { field: 'storage', node: primaryOf(spec), disk: spec.storage },
      ...spec.nodes.flatMap((n) => (n.storage ? [{ field: `nodes.${n.name}.storage`, node: n, disk: n.storage }] : [])),
    ];
    const seen = new Map<string, string>();
    for (const { field, node, disk } of disks) {
      const host = deps.hostFor(node);
      const path = disk.image ?? disk.device!;
      // %F: regular file or block special file; a file is itself by device:inode, a block device by major:minor.
      const st = await host.run({ argv: ['stat', '-L', '-c', '%F|%d:%i|%t:%T', '--', path], as: 'root', timeoutMs: 30_000 });
      const [kind, inode, numbers] = st.stdout.trim().split('|');
      if (st.exitCode !== 0 || (disk.image ? kind !== 'regular file' && kind !== 'regular empty file' : kind !== 'block special file'))
        throw failure('StorageMissing', `on ${host.name}: ${disk.image ? 'disk image' : 'block device'} ${path} is not there (${field})`);
      // The same disk twice on one machine: the shared storage cannot be a standby's own copy too.
      const id = `${JSON.stringify(node.host)}|${disk.image ? inode : numbers}`;
      const other = seen.get(id);
      if (other !== undefined)
        throw failure('WrongCluster', `on ${host.name}: ${field} (${path}) is the same disk as ${other}; nothing was attached`);
      seen.set(id, `${field} (${path})`);
      j.verified.push(`${host.name}: ${field}: ${path} is there (${kind})`);
    }
    for (const node of spec.nodes.filter((n) => n.role !== 'standby')) {
      await refuseForeignDir(deps.hostFor(node), node);
      j.verified.push(`${node.name}: ${node.localDir} is absent, empty or built by polar-runbook`);
    }
    return resultOf(j);
  },
});
