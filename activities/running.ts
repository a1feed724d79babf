// Which runbook of a cluster is running: asked of the Temporal server through the worker's own
// client, so a runbook never acts beside another one of the same cluster.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Journal } from '../lib/ops.js';

/** The execution of `workflowId` if it runs (recover/<cluster>, failover/<cluster>); what was seen goes to the journal. */
export async function runningRunbook(workflowId: string, j: Journal): Promise<{ id: string; runId: string; since: string } | undefined> {
  try {
    const d = await Context.current().client.workflow.getHandle(workflowId).describe();
    if (d.status.name === 'RUNNING') return { id: workflowId, runId: d.runId, since: d.startTime.toISOString() };
    j.verified.push(`${workflowId} is not running (${d.status.name.toLowerCase()})`);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    j.verified.push(`${workflowId} never ran`);
  }
  return undefined;
}
