// rebuildReplica: one child workflow per replica, so replicas are rebuilt in parallel and each
// has its own history, progress and retries.
import { setHandler } from '@temporalio/workflow';
import type { ClusterSpec } from '../common/spec.js';
import type { StepRecord } from '../common/report.js';
import { progressQuery } from './definitions.js';
import { long } from './options.js';
import { Recorder } from './recorder.js';

export async function rebuildReplica(spec: ClusterSpec, nodeName: string): Promise<StepRecord[]> {
  const rec = new Recorder(spec.cluster);
  setHandler(progressQuery, () => rec.progress);
  await rec.step('buildNode', nodeName, () => long.buildNode(spec, nodeName));
  await rec.step('startNode', nodeName, () => long.startNode(spec, nodeName));
  await rec.step('waitStreaming', nodeName, () => long.waitStreaming(spec, nodeName));
  return rec.progress.steps;
}
