// Starts failoverToStandby, or attaches to the failover already running for that cluster.
// `memo`: what the run is for (the webhook records the alert and its incident key there).
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { failoverWorkflowId, TASK_QUEUE, WORKFLOW_TASK_TIMEOUT, type FailoverInput } from '../lib/model/input.js';
import { ClusterName, Phase, Trigger } from '../lib/model/search-attributes.js';
import type { Started } from './start-recovery.js';

export async function startOrAttachFailover(
  client: Client,
  cluster: string,
  input: FailoverInput,
  memo: Record<string, unknown> = {},
): Promise<Started> {
  const workflowId = failoverWorkflowId(cluster);
  const startToken = randomUUID();
  const handle = await client.workflow.start('failoverToStandby', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
    memo: { ...memo, startToken },
    staticSummary: `fail cluster ${cluster} over to its standby (trigger: ${input.trigger ?? 'cli'})`,
    typedSearchAttributes: [
      { key: ClusterName, value: cluster },
      { key: Trigger, value: input.trigger ?? 'cli' },
      { key: Phase, value: 'starting' },
    ],
  });
  const d = await handle.describe();
  const started = d.memo?.startToken === startToken;
  return { handle, workflowId, started, ...(started && { runId: d.runId }) };
}
