// (a) of the overhead ratio: the same recovery with no Temporal. The declared recovery
// (lib/model/steps.ts), the very steps the workflow runs, in its order, each calling the activity
// function the worker registers (createActivities with the same hosts and profiles) directly;
// each step starts once what it needs is done (the workflow's critical-path schedule), so the
// ratio measures orchestration, not parallelism. Also the plain script the fan-out is measured
// against. No retries, no heartbeats, no history: a step that fails fails the run.
import { createActivities } from '../activities/index.js';
import { hostFor } from '../lib/hosts/index.js';
import type { StepOutcome, StepRecord } from '../lib/model/report.js';
import { primaryOf, type ClusterSpec } from '../lib/model/spec.js';
import { recoverySteps, runInOrder, type ActivityName, type Step } from '../lib/model/steps.js';

const activities = createActivities({ hostFor });

export interface RawRun {
  startedAt: number;
  endedAt: number;
  wallMs: number;
  steps: StepRecord[];
}

/** `serial`: one step at a time, in the declared order, for comparison only. */
export async function recoverRaw(spec: ClusterSpec, probeId: string, serial = false): Promise<RawRun> {
  const A = activities;
  const primary = primaryOf(spec);
  const steps: StepRecord[] = [];
  const event = { cluster: spec.cluster, workflowId: probeId };
  let answering: string[] = [];
  let primaryStarted = false;
  const node = (s: Step) => s.node!;
  // What each step runs: the workflow's calls, without the gates (an unprovable fence or a missing slot fails).
  const call: Partial<Record<ActivityName, (s: Step) => Promise<StepOutcome>>> = {
    fence: async () => {
      const { details, ...r } = await A.fence(spec);
      if (!details.proven) throw new Error(`fence not proven: ${details.evidence.join('; ')}`);
      answering = details.answering;
      return r;
    },
    provisionHost: (s) => A.provisionHost(spec, node(s)),
    preflight: () => A.preflight(spec),
    attachStorage: (s) => A.attachStorage(spec, node(s), s.disk!),
    startStorageDaemon: (s) => A.startStorageDaemon(spec, node(s), s.disk!),
    prepareBinaries: (s) => A.prepareBinaries(spec, node(s)),
    buildNode: (s) => A.buildNode(spec, node(s)),
    startNode: async (s) => {
      const r = await A.startNode(spec, node(s));
      if (s.node === primary.name) primaryStarted = r.changed;
      return r;
    },
    validateSlots: async () => {
      const r = await A.validateSlots(spec, spec.slots.onMissing === 'create');
      if (r.details.missing.length) throw new Error(`slots missing: ${r.details.missing.join(', ')}`);
      return r;
    },
    waitStreaming: (s) => A.waitStreaming(spec, node(s)),
    verifyData: () => A.verifyData(spec, probeId, primaryStarted || !answering.includes(primary.name)),
  };
  // The check that no failover runs asks the Temporal server: there is none here.
  const declared = recoverySteps(spec).steps.filter((s) => s.activity !== 'checkRunbooks');
  const plan = declared.map((s) => ({ ...s, needs: s.needs.filter((n) => declared.some((d) => d.id === n)) }));

  const startedAt = Date.now();
  void A.notifyOperators({ ...event, kind: 'started', text: 'recovery started' }); // as the workflow: not awaited
  await runInOrder(
    plan,
    async (s) => {
      const t0 = Date.now();
      const r = await call[s.activity]!(s);
      const t1 = Date.now();
      steps.push({
        id: s.id,
        step: s.name,
        node: s.node,
        state: 'done',
        startedAt: new Date(t0).toISOString(),
        endedAt: new Date(t1).toISOString(),
        durationMs: t1 - t0,
        changed: r.changed,
        commands: r.commands,
        skipped: r.skipped,
        verified: r.verified,
      });
    },
    serial,
  );
  const endedAt = Date.now();
  await A.notifyOperators({ ...event, kind: 'succeeded', text: 'recovered' });
  return { startedAt, endedAt, wallMs: Date.now() - startedAt, steps };
}
