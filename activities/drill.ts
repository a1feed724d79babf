// The drill's activities: is the cluster idle (no recovery, no other drill: asked of the Temporal
// server), and its steps in the library (lib/steps/drill.ts): reserve the sandbox's ports, copy
// the storage into the sandbox, take the sandbox away, record the result.
import { Context } from '@temporalio/activity';
import { DEFAULT_DRILL_HISTORY, DEFAULT_SANDBOX_ROOT, type DrillResult } from '../lib/model/drill.js';
import { failoverWorkflowId, recoveryWorkflowId } from '../lib/model/input.js';
import type { Sandbox } from '../lib/model/sandbox.js';
import type { ClusterSpec } from '../lib/model/spec.js';
import { drillFailure } from '../lib/sandbox.js';
import * as drill from '../lib/steps/drill.js';
import { runningRunbook } from './running.js';
import { step, type ActivityDeps } from './context.js';

export const createDrillActivities = (deps: ActivityDeps) => ({
  /**
   * A drill never runs beside a real recovery of its cluster (recover/<cluster> running), nor
   * beside another drill of it. Asked of the Temporal server through the worker's own client.
   */
  checkIdle: (cluster: string, self: { workflowId: string; runId: string }) =>
    step(deps, async ({ j }) => {
      // A failover of the cluster is a real disaster too: no drill beside it either.
      for (const [what, id] of [
        ['recovery', recoveryWorkflowId(cluster)],
        ['failover', failoverWorkflowId(cluster)],
      ]) {
        const running = await runningRunbook(id!, j);
        if (running)
          throw drillFailure('RecoveryRunning', `the ${what} ${running.id} (run ${running.runId}) is running since ${running.since}`);
      }
      const client = Context.current().client;
      // Visibility is eventually consistent: this catches drills started earlier, not one started
      // in the same second (two such drills have different sandboxes and cannot freeze the same
      // filesystem twice: the second freeze fails and that drill stops).
      const query = `WorkflowType = 'drill' AND ExecutionStatus = 'Running' AND ClusterName = '${cluster}'`;
      for await (const w of client.workflow.list({ query })) {
        if (w.runId !== self.runId && w.workflowId !== self.workflowId)
          throw drillFailure('DrillRunning', `the drill ${w.workflowId} (run ${w.runId}) of ${cluster} is running`);
      }
      j.verified.push(`no other drill of ${cluster} is running`);
    }),

  reserveSandbox: (spec: ClusterSpec, failover = false) =>
    drill.reserveSandbox(spec, deps.drillRoot ?? process.env.POLAR_DRILL_ROOT ?? DEFAULT_SANDBOX_ROOT, failover),

  snapshotStorage: (spec: ClusterSpec, sb: Sandbox, run: { workflowId: string; runId: string }) =>
    step(deps, (s) => drill.snapshotStorage(s, spec, sb, run)),

  teardownSandbox: (sb: Sandbox) => step(deps, (s) => drill.teardownSandbox(s, sb)),

  recordDrill: (result: DrillResult) =>
    drill.recordDrill(deps.drillHistoryFile ?? process.env.POLAR_DRILL_HISTORY ?? DEFAULT_DRILL_HISTORY, result),
});
