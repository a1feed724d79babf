// createActivities(deps): every activity, built from the dependencies it is given (the host
// layer above all), so tests and the lab can hand in their own.
import { cancellable, type ActivityDeps } from './context.js';
import { createBinariesActivities } from './binaries.js';
import { createDrillActivities } from './drill.js';
import { createFailoverActivities } from './failover.js';
import { createFenceActivities } from './fence.js';
import { createNodeActivities } from './node.js';
import { createNotifyActivities } from './notify.js';
import { createPreflightActivities } from './preflight.js';
import { createProvisionActivities } from './provision.js';
import { createRegistryActivities } from './registry.js';
import { createReplicationActivities } from './replication.js';
import { createStorageDaemonActivities } from './storage-daemon.js';
import { createStorageActivities } from './storage.js';
import { createVerifyActivities } from './verify.js';

export type { ActivityDeps } from './context.js';

export const createActivities = (given: ActivityDeps) => {
  // A cancelled activity ends the commands it runs, on every host.
  const deps: ActivityDeps = { ...given, hostFor: (node) => cancellable(given.hostFor(node)) };
  return {
    ...createRegistryActivities(deps),
    ...createFenceActivities(deps),
    ...createProvisionActivities(deps),
    ...createPreflightActivities(deps),
    ...createStorageActivities(deps),
    ...createStorageDaemonActivities(deps),
    ...createBinariesActivities(deps),
    ...createNodeActivities(deps),
    ...createReplicationActivities(deps),
    ...createVerifyActivities(deps),
    ...createNotifyActivities(deps),
    ...createDrillActivities(deps),
    ...createFailoverActivities(deps),
  };
};

export type Activities = ReturnType<typeof createActivities>;
