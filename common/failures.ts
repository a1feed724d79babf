// Failure types an operator can act on. Non-retryable ones stop the recovery at once: no retry
// can fix them, and retrying must not be what decides whether shared storage gets touched.
export const FailureTypes = {
  SpecInvalid: 'fix the cluster spec and start again',
  StorageMissing: 'the image file or block device is not there: check the path / the SAN assignment',
  WrongCluster: 'the storage holds another cluster: check the image or device path',
  NotAPfsDisk: 'pfs does not show the shared data dir on that disk: wrong disk, or not a PFS disk',
  LinkConflict: 'the device name is already taken by something else: pick another diskName or remove the stale link by hand',
  ForeignDataDir: 'the local dir holds data this runbook did not create: move it away (nothing was changed)',
  SplitBrainRisk: 'an old primary may still be running: stop it, then approve or start again',
  SlotMissing: 'an expected replication slot is gone: create it, or set slots.onMissing',
  PortTaken: 'another process answers on the node port: stop it or change the port',
  StandbyDirMissing: 'the standby lost its local dir, which this runbook does not rebuild: restore it or rebuild the standby',
  BinariesMissing: 'the database binaries are not where the spec says',
  NotImplemented: 'this step is not implemented for this profile/transport',
  CopyInconsistent:
    'the recovered data fails a consistency check (the drill marker, amcheck or an invariant): in a drill the copy was not a point-in-time copy (choose a consistent drill.copyMethod); in a recovery, inspect the data before serving it',
  Aborted: 'the recovery was aborted by an operator',
} as const;
export type FailureType = keyof typeof FailureTypes | 'CommandFailed' | 'HostUnreachable';
