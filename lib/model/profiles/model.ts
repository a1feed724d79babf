// What a profile declares that the spec, the workflows and the plans read: pure data and pure
// functions (workflow code imports them). The Node-side profiles (lib/profiles) extend it.
import type { CopyMethod, NodeSpec, SpecShape } from '../spec.js';

export const PROFILE_NAMES = ['polardb', 'postgres'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** Reports a problem with the spec at `path`. */
export type Issue = (path: (string | number)[], message: string) => void;

export interface ProfileModel<N extends ProfileName = ProfileName> {
  readonly name: N;
  /** The profile's own spec rules, checked after the rules every profile shares. */
  specRules(spec: SpecShape, issue: Issue): void;
  /**
   * Whether the node's build reads from the primary (a clone) and so waits for it to serve. When
   * not, the build runs while the primary builds and starts; only the node's start waits.
   */
  buildNeedsPrimary(spec: SpecShape, node: NodeSpec): boolean;
  /**
   * Whether the node's build copies config templates that a host cache holds (made from a
   * throwaway initdb): they are made beside the storage steps, and the build waits only for them.
   */
  buildUsesTemplates(spec: SpecShape, node: NodeSpec): boolean;
  /** The nodes whose data is the shared device (the standby has its own disk). */
  sharedNodes(spec: SpecShape): NodeSpec[];
  /** A drill's copy method when the spec names none (undefined: the spec must choose). */
  readonly defaultCopyMethod?: CopyMethod;
  /**
   * Whether a disk's dataDir is a path in a host filesystem (below its mountPoint), rather than
   * in the storage's own namespace (PFS). Such a dir is a production path, and a copy of the disk
   * is mounted to clear its stale postmaster.pid.
   */
  readonly dataDirOnHost: boolean;
  /** Whether the server's unix sockets are in the node's local dir (a sandbox's paths must fit sun_path). */
  readonly socketsInLocalDir: boolean;
  /** Whether a standby keeps its compute-local dir (a drill copies it into the sandbox), rather than having it rebuilt. */
  readonly standbyKeepsLocalDir: boolean;
}

/** The standby a failover promotes: the one named, else the only one. */
export function promotedStandby(spec: Pick<SpecShape, 'nodes' | 'failover'>): NodeSpec | undefined {
  const standbys = spec.nodes.filter((n) => n.role === 'standby');
  const name = spec.failover?.standby;
  return name ? standbys.find((n) => n.name === name) : standbys.length === 1 ? standbys[0] : undefined;
}
