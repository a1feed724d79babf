// What a profile's steps need, declared as data the workflow can read (pure: no host, no I/O).
import type { ClusterSpec, NodeSpec } from './spec.js';

/**
 * Whether a node's build reads from the primary. `postgres`: a replica is a clone of the recovered
 * primary. `polardb`: every node's local skeleton comes from PFS (`polar-initdb.sh ... replica`),
 * so a replica builds while the primary builds and starts; only its start waits for the primary.
 * A standby rebuilds from its own disk in both.
 */
export function buildNeedsPrimary(spec: Pick<ClusterSpec, 'profile'>, node: Pick<NodeSpec, 'role'>): boolean {
  return spec.profile === 'postgres' && node.role === 'replica';
}
