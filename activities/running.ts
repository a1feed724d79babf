// Which runbook of a cluster is running: asked of the Temporal server through the worker's own
// client, so a runbook never acts beside another one of the same cluster.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { recoveryWorkflowId } from '../common/input.js';
import type { Journal } from './ops.js';

/** The running recovery of the cluster (`recover/<cluster>`), if any; what was seen goes to the journal. */
export async function runningRecovery(cluster: string, j: Journal): Promise<{ id: string; runId: string; since: string } | undefined> {
  const id = recoveryWorkflowId(cluster);
  try {
    const d = await Context.current().client.workflow.getHandle(id).describe();
    if (d.status.name === 'RUNNING') return { id, runId: d.runId, since: d.startTime.toISOString() };
    j.verified.push(`${id} is not running (${d.status.name.toLowerCase()})`);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    j.verified.push(`${id} never ran`);
  }
  return undefined;
}
