// The one failure catalogue: every type an activity or a workflow ends with, and what an operator
// does about it. Non-retryable ones stop the recovery at once: no retry can fix them, and retrying
// must not be what decides whether shared storage gets touched. The README's table lists them all
// (a test keeps the two in step).
import { DrillFailureTypes } from './drill.js';

export const FailureTypes = {
  SpecInvalid: 'fix the cluster spec and start again',
  SecretUnavailable: 'the password file or variable the spec names is missing or unreadable on the worker: provide it, then start again',
  StorageMissing: 'the image file or block device is not there: check the path / the SAN assignment',
  StorageFull: 'the storage has no space left: free or grow it, then start again',
  StorageReadOnly: 'the storage is read-only or immutable (chattr +i, a read-only mount or LUN): make it writable, then start again',
  PermissionDenied: 'a command was refused by the OS (permissions): fix the ownership or rights it names, then start again',
  WrongCluster: 'the storage holds another cluster: check the image or device path',
  NotAPfsDisk: 'pfs does not show the shared data dir on that disk: wrong disk, or not a PFS disk',
  LinkConflict: 'the device name is already taken by something else: pick another diskName or remove the stale link by hand',
  ForeignDataDir: 'the local dir holds data this runbook did not create: move it away (nothing was changed)',
  SplitBrainRisk: 'an old primary may still be running: stop it, then approve or start again',
  FenceFailed: 'the fencing agent did not confirm the old node is off: fence it by hand, then start again',
  SlotMissing: 'an expected replication slot is gone: create it, or set slots.onMissing',
  PortTaken: 'another process answers on the node port: stop it or change the port',
  PrimaryLost: 'the rebuilt primary stopped serving during the recovery: read its server log, then start the recovery again',
  StandbyDirMissing: 'the standby lost its local dir, which this runbook does not rebuild: restore it or rebuild the standby',
  BinariesMissing: 'a binary the step runs is not there: install it or fix binaries.dir / the tool path in the spec',
  HostKeyRejected: "the host's ssh key is unknown or changed: verify the host, then update the known_hosts file",
  HostConflict:
    "a container of the node's name exists with another image than host.provision names: it was left alone; remove or rename it by hand, or fix the spec",
  HostUnreachable: 'the host does not answer (retried): check it is up and reachable from the worker',
  DataCorrupt:
    'the database found its own files damaged when it started (a PANIC in its server log): restore the storage from a backup or a consistent snapshot; in a drill, the copy was not a point-in-time copy',
  CommandFailed: 'a command failed (retried): read its output in the message',
  RunbookConflict: 'another runbook acts on this cluster (a recovery, or a failover): let it end or abort it, then start again',
  ApprovalTimeout: 'nobody answered the approval gate in time: read the evidence, then start the recovery again',
  Aborted: 'the recovery was stopped by an operator: the report says which steps completed and which were interrupted',
  CopyInconsistent:
    'the recovered data fails a consistency check (the drill marker, amcheck or an invariant): in a drill the copy was not a point-in-time copy (choose a consistent drill.copyMethod); in a recovery, inspect the data before serving it',
  Internal: 'an unexpected error in polar-runbook itself (retried): report it with the message',
  ...DrillFailureTypes,
} as const;
export type FailureType = keyof typeof FailureTypes;

/** The failure types no retry can fix (everything but the transient ones). */
export const RETRYABLE_TYPES: readonly FailureType[] = ['HostUnreachable', 'CommandFailed', 'Internal'];

/**
 * A command's own words that mean no retry will help, and the type they get. Checked on a failed
 * command's output and on the server log of a node that would not start.
 */
export const PERMANENT_CAUSES: { pattern: RegExp; type: FailureType }[] = [
  { pattern: /No space left on device|Disk quota exceeded/i, type: 'StorageFull' },
  { pattern: /Read-only file system|write-protected|is write protected/i, type: 'StorageReadOnly' },
  { pattern: /Operation not permitted|Permission denied/i, type: 'PermissionDenied' },
  { pattern: /failed to (run command|execute) .*No such file or directory|command not found/i, type: 'BinariesMissing' },
  // A PANIC at start is the database refusing its own files (no checkpoint record, a torn logindex).
  { pattern: /\bPANIC:/, type: 'DataCorrupt' },
];

/** The permanent cause in a command's output, if any. */
export function permanentCause(text: string): FailureType | undefined {
  return PERMANENT_CAUSES.find((c) => c.pattern.test(text))?.type;
}

/** One error of a cause chain, as far as the walkers below read it. */
type Link = { cause?: unknown; type?: unknown; message?: string; details?: unknown[] };

/**
 * An error and its causes, outermost first: the ActivityFailure / ChildWorkflowFailure /
 * WorkflowFailedError wrappers, down to what an activity threw. The one walker the workflows and
 * the clients share.
 */
function causeChain(err: unknown): Link[] {
  const chain: Link[] = [];
  for (let e = err as Link | undefined; e; e = e.cause as Link | undefined) chain.push(e);
  return chain;
}

/** The deepest error of the chain that has a type (an ApplicationFailure): what the failing activity said. */
export const typedRoot = (err: unknown): Link | undefined =>
  causeChain(err)
    .filter((e) => typeof e.type === 'string' && e.type)
    .at(-1);

/** The typed failure at the bottom of an error's cause chain, with its message (else the deepest message). */
export function rootFailure(err: unknown): { type?: string; message: string; details?: unknown[] } {
  const typed = typedRoot(err);
  if (typed) return { type: typed.type as string, message: typed.message ?? '', details: typed.details };
  return {
    message:
      causeChain(err)
        .filter((e) => e.message)
        .at(-1)?.message ?? String((err as Error)?.message ?? err),
  };
}

/** The first `details[0]` in an error's cause chain that has the field `key` (a child's steps). */
export function detailIn<T>(err: unknown, key: string): T | undefined {
  const d = causeChain(err)
    .map((e) => e.details?.[0] as Record<string, unknown> | undefined)
    .find((x) => x && key in x);
  return d?.[key] as T | undefined;
}
