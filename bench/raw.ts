// (a) of the overhead ratio: the same recovery with no Temporal. The declared recovery
// (lib/model/steps.ts), the very steps the workflow runs, in its order, each calling the library
// step its activity runs (lib/steps, with the same hosts and profiles) directly;
// each step starts once what it needs is done (the workflow's critical-path schedule), so the
// ratio measures orchestration, not parallelism. Also the plain script the fan-out is measured
// against. No retries, no heartbeats, no history: a step that fails fails the run.
import { hostFor } from '../lib/hosts/index.js';
import type { StepOutcome, StepRecord } from '../lib/model/report.js';
import { primaryOf, type ClusterSpec } from '../lib/model/spec.js';
import { hasTemplatesStep, recoverySteps, runInOrder, type ActivityName, type Step } from '../lib/model/steps.js';
import * as A from '../lib/steps/index.js';

const run = <D>(step: (e: A.StepEnv) => Promise<D>) => A.runStep(hostFor, step);

export interface RawRun {
  startedAt: number;
  endedAt: number;
  wallMs: number;
  steps: StepRecord[];
}

/** `serial`: one step at a time, in the declared order, for comparison only. */
export async function recoverRaw(spec: ClusterSpec, probeId: string, serial = false): Promise<RawRun> {
  const primary = primaryOf(spec);
  const steps: StepRecord[] = [];
  let answering: string[] = [];
  let primaryStarted = false;
  const node = (s: Step) => s.node!;
  // What each step runs: the workflow's calls, without the gates (an unprovable fence or a missing slot fails).
  const call: Partial<Record<ActivityName, (s: Step) => Promise<StepOutcome>>> = {
    fence: async () => {
      const { details, ...r } = await run((e) => A.fence(e, spec));
      if (!details.proven) throw new Error(`fence not proven: ${details.evidence.join('; ')}`);
      answering = details.answering;
      return r;
    },
    provisionHost: (s) => run((e) => A.provisionHost(e, spec, node(s))),
    preflight: () => run((e) => A.preflight(e, spec)),
    attachStorage: (s) => run((e) => A.attachStorage(e, spec, node(s), s.disk!)),
    startStorageDaemon: (s) => run((e) => A.startStorageDaemon(e, spec, node(s), s.disk!)),
    prepareBinaries: (s) => run((e) => A.prepareBinaries(e, spec, node(s), !hasTemplatesStep(runbook, node(s)))),
    prepareTemplates: (s) => run((e) => A.prepareTemplates(e, spec, node(s))),
    buildNode: (s) => run((e) => A.buildNode(e, spec, node(s))),
    startNode: async (s) => {
      const r = await run((e) => A.startNode(e, spec, node(s)));
      if (s.node === primary.name) primaryStarted = r.changed;
      return r;
    },
    validateSlots: async () => {
      const r = await run((e) => A.validateSlots(e, spec, spec.slots.onMissing === 'create'));
      if (r.details.missing.length) throw new Error(`slots missing: ${r.details.missing.join(', ')}`);
      return r;
    },
    waitStreaming: (s) => run((e) => A.waitStreaming(e, spec, node(s))),
    verifyData: () => run((e) => A.verifyData(e, spec, probeId, primaryStarted || !answering.includes(primary.name))),
  };
  // The check that no failover runs asks the Temporal server: there is none here.
  const runbook = recoverySteps(spec);
  const declared = runbook.steps.filter((s) => s.activity !== 'checkRunbooks');
  const plan = declared.map((s) => ({ ...s, needs: s.needs.filter((n) => declared.some((d) => d.id === n)) }));

  const startedAt = Date.now();
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
  return { startedAt, endedAt, wallMs: Date.now() - startedAt, steps };
}
