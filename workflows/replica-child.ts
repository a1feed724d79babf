// A replica's rebuild in its own child workflow (rebuildReplica), its steps folded into the
// parent's report, also when it fails.
import { executeChild, patched, workflowInfo } from '@temporalio/workflow';
import { detailIn } from '../lib/model/failures.js';
import { WORKFLOW_TASK_TIMEOUT, type RecoverInput } from '../lib/model/input.js';
import type { StepRecord } from '../lib/model/report.js';
import { ClusterName, Trigger } from '../lib/model/search-attributes.js';
import type { ClusterSpec } from '../lib/model/spec.js';
import type { Recorder } from './recorder.js';
import { rebuildReplica } from './rebuild-replica.js';

/** One child workflow per replica: start (and build, unless `built`), then streaming. */
export async function replicaChild(spec: ClusterSpec, input: RecoverInput, rec: Recorder, n: string, built?: boolean): Promise<void> {
  const childSearch = patched('child-search-attributes');
  try {
    const steps = await rec.track(
      executeChild(rebuildReplica, {
        args: built ? [spec, n, { built }] : [spec, n],
        workflowId: `${workflowInfo().workflowId}/replica/${n}`,
        workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
        ...(childSearch
          ? {
              typedSearchAttributes: [
                { key: ClusterName, value: spec.cluster },
                { key: Trigger, value: input.trigger ?? 'ui' },
              ],
              staticSummary: `rebuild replica ${n} of ${spec.cluster}`,
            }
          : {}),
      }),
    );
    rec.adopt(steps);
  } catch (err) {
    // The child's steps travel in its failure's details: the report shows where it stopped.
    rec.adopt(detailIn<StepRecord[]>(err, 'steps') ?? []);
    throw err;
  }
}
