// Starts recoverCluster, or attaches to the recovery already running for that cluster.
import { randomUUID } from 'node:crypto';
import { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { recoveryWorkflowId, RecoverInput, TASK_QUEUE, WORKFLOW_TASK_TIMEOUT } from '../common/input.js';
import { ClusterName, Phase, Trigger } from '../common/search-attributes.js';

export interface Started {
  handle: WorkflowHandle;
  workflowId: string;
  /** false when a recovery for this cluster was already running and this call attached to it. */
  started: boolean;
}

export async function startOrAttachRecovery(
  client: Client,
  cluster: string,
  input: RecoverInput,
  memo: Record<string, unknown> = {},
): Promise<Started> {
  const workflowId = recoveryWorkflowId(cluster);
  // USE_EXISTING returns the running execution instead of starting a second one; the start
  // token in the memo tells whether the execution we got is the one this call created.
  const startToken = randomUUID();
  const handle = await client.workflow.start('recoverCluster', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
    memo: { ...memo, startToken },
    // The Web UI shows it at the top of the run: what this is, before any step ran.
    staticSummary: `recover cluster ${cluster} from its storage (trigger: ${input.trigger ?? 'cli'})`,
    typedSearchAttributes: [
      { key: ClusterName, value: cluster },
      { key: Trigger, value: input.trigger ?? 'cli' },
      { key: Phase, value: 'starting' },
    ],
  });
  const { memo: got } = await handle.describe();
  return { handle, workflowId, started: got?.startToken === startToken };
}
