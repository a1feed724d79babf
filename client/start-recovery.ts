// Starts recoverCluster, or attaches to the recovery already running for that cluster.
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { recoveryWorkflowId, RecoverInput, TASK_QUEUE, WORKFLOW_TASK_TIMEOUT } from '../lib/model/input.js';
import { ClusterName, Phase, Trigger } from '../lib/model/search-attributes.js';

export interface Started {
  handle: WorkflowHandle;
  workflowId: string;
  /** false when a recovery for this cluster was already running and this call attached to it. */
  started: boolean;
  /** The run this call started (unknown when it attached). */
  runId?: string;
}

export async function startOrAttachRecovery(
  client: Client,
  cluster: string,
  input: RecoverInput,
  memo: Record<string, unknown> = {},
): Promise<Started> {
  const workflowId = recoveryWorkflowId(cluster);
  try {
    // FAIL (not USE_EXISTING): the server's answer itself says whether this call started the run,
    // so no second call is needed. A closed run of the same id does not stand in the way.
    const handle = await client.workflow.start('recoverCluster', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
      memo,
      // The Web UI shows it at the top of the run: what this is, before any step ran.
      staticSummary: `recover cluster ${cluster} from its storage (trigger: ${input.trigger ?? 'cli'})`,
      typedSearchAttributes: [
        { key: ClusterName, value: cluster },
        { key: Trigger, value: input.trigger ?? 'cli' },
        { key: Phase, value: 'starting' },
      ],
    });
    return { handle, workflowId, started: true, runId: handle.firstExecutionRunId };
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    return { handle: client.workflow.getHandle(workflowId), workflowId, started: false };
  }
}
