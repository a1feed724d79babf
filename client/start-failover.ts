// Starts failoverToStandby, or attaches to the failover already running for that cluster.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { failoverWorkflowId, TASK_QUEUE, WORKFLOW_TASK_TIMEOUT, type FailoverInput } from '../common/input.js';
import { ClusterName, Phase, Trigger } from '../common/search-attributes.js';
import type { Started } from './start-recovery.js';

export async function startOrAttachFailover(client: Client, cluster: string, input: FailoverInput): Promise<Started> {
  const workflowId = failoverWorkflowId(cluster);
  const startToken = randomUUID();
  const handle = await client.workflow.start('failoverToStandby', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
    memo: { startToken },
    typedSearchAttributes: [
      { key: ClusterName, value: cluster },
      { key: Trigger, value: input.trigger ?? 'cli' },
      { key: Phase, value: 'starting' },
    ],
  });
  const { memo } = await handle.describe();
  return { handle, workflowId, started: memo?.startToken === startToken };
}
