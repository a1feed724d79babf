// A profile turns a spec into Ops: pure data a plan can print and an executor can run.
import type { ClusterSpec, Disk, NodeSpec } from '../model/spec.js';
import type { FailureType } from '../model/failures.js';
import type { Cmd, CmdResult, RunAs } from '../hosts/types.js';

/** A command whose exit 0 means "the effect is already there"; `label` says so in plans. */
export type Probe = Pick<Cmd, 'argv' | 'as'> & { label?: string };

export type Op =
  /** Run a command unless `skipIf` holds. */
  | { kind: 'run'; title: string; cmd: Cmd; skipIf?: Probe }
  /** Make a file's content exactly `content` (written only when it differs). */
  | { kind: 'file'; title: string; path: string; content: string; owner: RunAs; mode: string }
  /** Keep the file's own text and end it with our marked block (written only when it differs). */
  | { kind: 'block'; title: string; path: string; block: string; owner: RunAs }
  /** A precondition no retry can fix: when `probe` fails, stop with a typed failure and this message. */
  | { kind: 'require'; title: string; probe: Probe; failure: FailureType; message: string };

/** A check whose output says whether the step worked. */
export interface Check {
  cmd: Cmd;
  /** undefined when fine, else what is wrong (for the operator). */
  problem(r: CmdResult): string | undefined;
}

export interface Profile {
  readonly name: ClusterSpec['profile'];
  /** Makes a disk's data usable on a host: starts pfsd, or mounts the filesystem. */
  storageDaemon(spec: ClusterSpec, node: NodeSpec, disk: Disk): { ops: Op[]; check: Check };
  /**
   * Puts the database binaries in place on a host and proves they run; `then`, once they run,
   * fills the host's caches for them (it changes nothing of the cluster).
   */
  binaries(spec: ClusterSpec, node: NodeSpec): { ops: Op[]; check: Check; then?: Op[] };
  /**
   * Whether the node's build reads from the primary (a clone) and so waits for it to serve. When
   * not, the build runs while the primary builds and starts; only the node's start waits.
   */
  buildNeedsPrimary(spec: ClusterSpec, node: NodeSpec): boolean;
  /** Builds the node's local directory and configuration (everything up to starting it). */
  buildNode(spec: ClusterSpec, node: NodeSpec): Op[];
  /** Starts the node (skipped when it runs already). */
  startNode(spec: ClusterSpec, node: NodeSpec): Op;
  /** The directory the postmaster runs in (its cwd): how a running instance is recognised. */
  postmasterDir(spec: ClusterSpec, node: NodeSpec): string;
  /** Where the node's server writes its log: files, or directories whose newest file is the log. */
  serverLogs(spec: ClusterSpec, node: NodeSpec): string[];
}

export const binDir = (spec: ClusterSpec): string => `${spec.binaries.dir}/bin`;
export const MARKER_BEGIN = '# BEGIN polar-runbook managed block (rendered from the cluster spec; edits are replaced)';
export const MARKER_END = '# END polar-runbook managed block';
