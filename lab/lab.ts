// The lab's library API: build a real cluster on this machine, wreck it as the seed's disaster
// did, look at it, take it away again. Used by the CLI, the tests and the benchmarks.
export { createLab, type CreateOptions } from './create.js';
export { destroyAllLabs, destroyLab } from './destroy.js';
export { disaster, lostImage, type DisasterOptions, type RecordedFingerprint } from './disaster.js';
export { labPaths, labsRoot } from './layout.js';
export { listLabs, loadLab, readLabFile, type Lab, type LabFile } from './load.js';
export { LAB_TABLES } from './spec.js';
export { formatStatus, labStatus, type LabStatus } from './status.js';
