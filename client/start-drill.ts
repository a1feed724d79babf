// Starts a drill (workflow id drill/<cluster>), or attaches to the one running, and waits for its result.
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { drillWorkflowId, type DrillInput, type DrillResult } from '../lib/model/drill.js';
import { ClusterName, Phase, Trigger } from '../lib/model/search-attributes.js';
import { TASK_QUEUE, WORKFLOW_TASK_TIMEOUT } from '../lib/model/input.js';

export async function startDrill(client: Client, cluster: string, input: DrillInput): Promise<WorkflowHandle> {
  return client.workflow.start('drill', {
    workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
    taskQueue: TASK_QUEUE,
    workflowId: drillWorkflowId(cluster),
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: [
      { key: ClusterName, value: cluster },
      { key: Trigger, value: input.trigger ?? 'cli' },
      { key: Phase, value: 'starting' },
    ],
  });
}

/** The drill's result, also when it failed (the failure carries the result it recorded). */
export async function drillOutcome(handle: WorkflowHandle): Promise<{ result?: DrillResult; error?: string }> {
  try {
    return { result: (await handle.result()) as DrillResult };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const details = (err.cause as { details?: unknown[] } | undefined)?.details;
    return { result: details?.[0] as DrillResult | undefined, error: err.cause?.message ?? err.message };
  }
}
