// The failover's activities (workflows/failover.ts): no other runbook acts on the cluster (asked
// of the Temporal server); its steps in the library (lib/steps/failover.ts).
import { Context } from '@temporalio/activity';
import { failoverWorkflowId, recoveryWorkflowId } from '../lib/model/input.js';
import type { ClusterSpec } from '../lib/model/spec.js';
import type { Fingerprint } from '../lib/db.js';
import { failure } from '../lib/failures.js';
import * as failover from '../lib/steps/failover.js';
import { runningRunbook } from './running.js';
import { step, type ActivityDeps } from './context.js';

export const createFailoverActivities = (deps: ActivityDeps) => ({
  /**
   * A failover never acts beside a running recovery of its cluster, nor beside another failover of
   * it started under another id (the one with the cluster's own id is unique by Temporal's rule).
   * `runbook: 'recovery'`: the recovery's own check, that no failover of its cluster is running.
   */
  checkRunbooks: (cluster: string, self: { workflowId: string; runId: string }, runbook: 'failover' | 'recovery' = 'failover') =>
    step(deps, async ({ j }) => {
      // A recovery never acts beside a failover of its cluster, nor a failover beside a recovery.
      const other = await runningRunbook(runbook === 'recovery' ? failoverWorkflowId(cluster) : recoveryWorkflowId(cluster), j);
      if (other)
        throw failure(
          'RunbookConflict',
          `the ${runbook === 'recovery' ? 'failover' : 'recovery'} ${other.id} (run ${other.runId}) is running since ${other.since}: a ${runbook} must not act beside it; wait for it to end, or abort it first`,
        );
      if (runbook === 'recovery') return;
      const client = Context.current().client;
      const query = `WorkflowType = 'failoverToStandby' AND ExecutionStatus = 'Running' AND ClusterName = '${cluster}'`;
      for await (const w of client.workflow.list({ query }))
        if (w.runId !== self.runId && w.workflowId !== failoverWorkflowId(cluster))
          throw failure('RunbookConflict', `the failover ${w.workflowId} (run ${w.runId}) of ${cluster} is running`);
      j.verified.push(`no other failover of ${cluster} is running`);
    }),

  fenceForFailover: (spec: ClusterSpec, after: ClusterSpec) => step(deps, (s) => failover.fenceForFailover(s, spec, after)),
  recordPosition: (spec: ClusterSpec) => step(deps, (s) => failover.recordPosition(s, spec)),
  promote: (spec: ClusterSpec, limitMs?: number) => step(deps, (s) => failover.promote(s, spec, limitMs)),
  verifyFailover: (after: ClusterSpec, probeId: string, before: Fingerprint) =>
    step(deps, (s) => failover.verifyFailover(s, after, probeId, before)),
  writeFailoverSpec: (after: ClusterSpec, runId: string) =>
    step(deps, (s) =>
      failover.writeFailoverSpec(s, deps.failoverDir ?? process.env.POLAR_FAILOVER_DIR ?? failover.DEFAULT_FAILOVER_DIR, after, runId),
    ),
});
