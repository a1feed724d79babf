// Every workflow the worker runs (the bundle's entry point).
export { recoverCluster } from './recover-cluster.js';
export { rebuildReplica } from './rebuild-replica.js';
export { drill } from './drill.js';
export { registeredCluster } from './registered-cluster.js';
export { failoverToStandby } from './failover.js';
