// startStorageDaemon: make the disk's data readable on a host (pfsd for PFS, a mount for a
// filesystem), then prove the data is there.
import type { ClusterSpec } from '../lib/model/spec.js';
import { nodeNamed } from '../lib/model/spec.js';
import type { StepResult } from '../lib/model/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { runCheck, runOps } from '../lib/ops.js';
import { profileOf } from '../lib/profiles/index.js';
import { attach, diskOf, type Which } from '../lib/storage.js';

export const createStorageDaemonActivities = (deps: ActivityDeps) => ({
  async startStorageDaemon(spec: ClusterSpec, nodeName: string, which: Which): Promise<StepResult> {
    const node = nodeNamed(spec, nodeName);
    const host = deps.hostFor(node);
    const disk = diskOf(spec, node, which);
    const j = journalOf(deps);
    // The link may have gone since attachStorage (a host reboot): put it back first.
    await attach(host, disk, j, node.host.transport === 'docker');
    const { ops, check } = profileOf(spec).storageDaemon(spec, node, disk);
    await runOps(host, ops, j);
    await runCheck(host, check, j);
    return resultOf(j);
  },
});
