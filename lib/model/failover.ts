// The cluster as it is after a failover to the standby: pure, so the workflow, the plan and the
// report all derive the same topology from the spec. The standby becomes the primary, its own disk
// the new shared disk; the read-only nodes the spec names in failover.replicasAfter stream from it.
import { parseSpec, type ClusterSpec, type ClusterSpecInput, type NodeSpec } from './spec.js';

/** The standby a failover promotes (validated present when the spec has a failover section). */
export function failoverStandby(spec: ClusterSpec): NodeSpec {
  const standbys = spec.nodes.filter((n) => n.role === 'standby');
  const name = spec.failover?.standby;
  const s = name ? standbys.find((n) => n.name === name) : standbys.length === 1 ? standbys[0] : undefined;
  if (!s) throw new Error(`cluster ${spec.cluster} has no standby to fail over to (give failover.standby)`);
  return s;
}

/** The data directory on the standby's disk (PFS: `/<disk>/shared_data` unless the spec says). */
export function standbyDataDir(standby: NodeSpec): string {
  const disk = standby.storage!;
  return disk.dataDir ?? `/${disk.diskName}/shared_data`;
}

/** The nodes a failover fences: every node but the standby it promotes. */
export const oldNodes = (spec: ClusterSpec): NodeSpec[] => {
  const standby = failoverStandby(spec);
  return spec.nodes.filter((n) => n.name !== standby.name);
};

/**
 * The spec of the topology after the failover (validated like any spec): the one an operator
 * registers so the next recovery or drill acts on the cluster that exists.
 */
export function specAfterFailover(spec: ClusterSpec): ClusterSpec {
  if (!spec.failover) throw new Error(`cluster ${spec.cluster}: the spec has no failover section`);
  const standby = failoverStandby(spec);
  const { storage, slot: _slot, ...asPrimary } = standby;
  void _slot;
  const replicas = spec.failover.replicasAfter.map((r) => ({ ...r, role: 'replica' as const }));
  const { failover: _f, nodes: _n, storage: _s, slots, ...rest } = spec;
  void _f;
  void _n;
  void _s;
  const doc: ClusterSpecInput = {
    ...(rest as Omit<ClusterSpecInput, 'nodes' | 'storage'>),
    storage: { ...storage!, dataDir: standbyDataDir(standby) },
    nodes: [{ ...asPrimary, role: 'primary' }, ...replicas],
    slots: { expected: replicas.map((r) => r.slot!), onMissing: slots.onMissing },
  };
  return parseSpec(doc);
}
