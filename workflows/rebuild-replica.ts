// rebuildReplica: one child workflow per replica, so replicas are rebuilt in parallel and each
// has its own history, progress and retries. A failure carries the child's steps in its details.
import { ApplicationFailure, isCancellation, setHandler } from '@temporalio/workflow';
import { rootFailure } from '../lib/model/failures.js';
import type { ClusterSpec } from '../lib/model/spec.js';
import type { StepRecord } from '../lib/model/report.js';
import { progressQuery } from './definitions.js';
import { long } from './options.js';
import { at, Recorder } from './recorder.js';

/** `built`: the parent built the node already (its build needs no primary: it ran while the primary started). */
export async function rebuildReplica(spec: ClusterSpec, nodeName: string, opts?: { built?: boolean }): Promise<StepRecord[]> {
  const rec = new Recorder(spec.cluster);
  setHandler(progressQuery, () => rec.progress);
  try {
    if (!opts?.built) await rec.step(at('buildNode', nodeName, 'replica'), (o) => long.buildNode.executeWithOptions(o, [spec, nodeName]));
    await rec.step(at('startNode', nodeName, 'replica'), (o) => long.startNode.executeWithOptions(o, [spec, nodeName]));
    await rec.step(at('waitStreaming', nodeName, 'replica'), (o) => long.waitStreaming.executeWithOptions(o, [spec, nodeName]));
  } catch (err) {
    rec.end(isCancellation(err) ? 'aborted' : 'failed');
    const details = [{ steps: rec.progress.steps }];
    // Cancelled too (an abort of the recovery): a failure, since only a failure carries the steps back.
    const root = isCancellation(err) ? { type: 'Aborted', message: 'the replica rebuild was cancelled' } : rootFailure(err);
    throw ApplicationFailure.create({ type: root.type ?? 'Internal', message: root.message, nonRetryable: true, details });
  }
  rec.end(rec.progress.steps.some((s) => s.changed) ? 'recovered' : 'already-healthy');
  return rec.progress.steps;
}
