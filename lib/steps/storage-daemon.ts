// startStorageDaemon: make the disk's data readable on a host (pfsd for PFS, a mount for a
// filesystem), then prove the data is there.
import type { ClusterSpec } from '../model/spec.js';
import { nodeNamed } from '../model/spec.js';
import { askEarly, runCheck, runOps } from '../ops.js';
import { profileOf } from '../profiles/index.js';
import { attach, diskOf, type Which } from '../storage.js';
import type { StepEnv } from './env.js';

export async function startStorageDaemon({ hostFor, j }: StepEnv, spec: ClusterSpec, nodeName: string, which: Which): Promise<void> {
  const node = nodeNamed(spec, nodeName);
  const host = hostFor(node);
  const disk = diskOf(spec, node, which);
  const { ops, check } = profileOf(spec).storageDaemon(spec, node, disk);
  // Whether the daemon runs is asked beside the attach: the link may have gone since
  // attachStorage (a host reboot) and is put back first, which neither starts nor stops it.
  const asked = askEarly(host, ops.slice(0, 1));
  await attach(host, disk, j, node.host.transport === 'docker');
  await runOps(host, ops, j, asked);
  await runCheck(host, check, j);
}
