// recoverCluster: the runbook. Brings a shared-storage cluster back when every compute host is
// gone and only the storage survives: fence -> attach storage -> storage daemon -> binaries ->
// primary -> slots -> standbys and replicas (in parallel) -> verify -> report.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { FailureTypes, rootFailure } from '../common/failures.js';
import { recoveryWorkflowId, WORKFLOW_TASK_TIMEOUT, type RecoverInput } from '../common/input.js';
import { headlineOf, type FailureSummary, type Outcome, type RecoveryReport, type StepRecord, type StepResult } from '../common/report.js';
import { ClusterName, Outcome as OutcomeAttribute, Trigger } from '../common/search-attributes.js';
import { nodesOf, primaryOf, sharedNodes, type ClusterSpec } from '../common/spec.js';
import { abortSignal, approveSignal, progressQuery } from './definitions.js';
import { long, notifier, quick } from './options.js';
import { Recorder } from './recorder.js';
import { specFrom } from './spec-input.js';
import { buildNeedsPrimary } from '../common/profile-needs.js';
import { rebuildReplica } from './rebuild-replica.js';

type Tell = (kind: 'started' | 'waiting-approval' | 'succeeded' | 'failed', text: string) => Promise<void>;

export async function recoverCluster(input: RecoverInput): Promise<RecoveryReport> {
  const spec = await specFrom(input);
  const workflowId = workflowInfo().workflowId;
  // One recovery per cluster: only the execution with the cluster's own id may act on it, so a
  // start from the Web UI with another id cannot run beside a recovery already under way.
  if (workflowId !== recoveryWorkflowId(spec.cluster))
    throw ApplicationFailure.nonRetryable(`start this recovery with workflow id ${recoveryWorkflowId(spec.cluster)}`, 'SpecInvalid');
  upsertSearchAttributes([
    { key: ClusterName, value: spec.cluster },
    { key: Trigger, value: input.trigger ?? 'ui' },
  ]);

  // A drill's recovery of its sandbox is not an incident: operators hear of the drill, not of it.
  const tell: Tell = async (kind, text) => {
    if (input.trigger === 'drill') return;
    await notifier
      .notifyOperators({ kind, cluster: spec.cluster, workflowId, text: `[polar-runbook] ${spec.cluster}: ${text}` })
      .catch(() => {});
  };
  void tell('started', `recovery started (trigger: ${input.trigger ?? 'ui'})`); // not awaited: adds no latency

  const rec = new Recorder(spec.cluster);
  setHandler(progressQuery, () => rec.progress);
  // Abort (a signal) and a Temporal cancel both cancel the runbook's scope: running activities are
  // cancelled (their commands ended on the hosts), child workflows too, and nothing new starts.
  const scope = new CancellationScope();
  setHandler(abortSignal, (a) => {
    rec.aborted = a?.reason || 'no reason given';
    scope.cancel();
  });
  try {
    const report = await scope.run(() => runbook(spec, input, rec, tell));
    await tell('succeeded', report.headline);
    return report;
  } catch (err) {
    const failure = summarise(rec, err);
    rec.progress.outcome = failure.type === 'Aborted' ? 'aborted' : 'failed';
    rec.progress.failure = failure;
    setOutcome(rec, rec.progress.outcome);
    // The scope may be cancelled: the last word still goes out.
    await CancellationScope.nonCancellable(() =>
      tell('failed', `recovery ${rec.progress.outcome}: ${failure.type}${failure.step ? ` at ${failure.step}` : ''}: ${failure.cause}`),
    );
    throw ApplicationFailure.create({
      type: failure.type,
      message: failure.type === 'Aborted' ? failure.cause : `${failure.step ? `${failure.step}: ` : ''}${failure.cause}`,
      nonRetryable: true,
      details: [{ ...rec.progress }],
      cause: err instanceof Error && failure.type !== 'Aborted' ? innermost(err) : undefined,
    });
  }
}

/** The end of a run in its search attributes (recorded histories from before replay without them). */
function setOutcome(rec: Recorder, outcome: Outcome): void {
  if (!patched('outcome-search-attribute')) return;
  if (outcome === 'failed' || outcome === 'aborted') rec.phase(outcome);
  upsertSearchAttributes([{ key: OutcomeAttribute, value: outcome }]);
}

/** The typed failure at the bottom of the chain: what the failing activity said. */
function innermost(err: Error): Error {
  let e: Error = err;
  let typed: Error | undefined;
  while (e) {
    if ((e as ApplicationFailure).type) typed = e;
    e = e.cause as Error;
  }
  return typed ?? err;
}

/** What went wrong, where, and what to do: the failure's details and `progress.failure`. */
function summarise(rec: Recorder, err: unknown): FailureSummary {
  const steps = rec.progress.steps;
  const completed = steps.filter((s) => s.state === 'done').map((s) => s.id);
  const interrupted = steps.filter((s) => s.state === 'interrupted' || s.state === 'running').map((s) => s.id);
  for (const s of steps) if (s.state === 'running') s.state = 'interrupted';
  if (rec.aborted !== undefined || isCancellation(err)) {
    const reason = rec.aborted ?? 'the workflow was cancelled';
    const where = interrupted.length ? `while ${interrupted.join(', ')} ran (interrupted)` : 'before the next step';
    return {
      type: 'Aborted',
      cause: `aborted (${reason}) ${where}; completed: ${completed.join(', ') || 'nothing'}`,
      whatToDo: FailureTypes.Aborted,
      interrupted,
      completed,
    };
  }
  const root = rootFailure(err);
  const failed = [...steps].reverse().find((s) => s.state === 'failed');
  const type = root.type ?? 'Internal';
  return {
    type,
    ...(failed ? { step: failed.id } : {}),
    ...(failed?.node ? { node: failed.node } : {}),
    cause: root.message,
    whatToDo: FailureTypes[type as keyof typeof FailureTypes] ?? 'read the cause',
    interrupted,
    completed,
  };
}

async function runbook(spec: ClusterSpec, input: RecoverInput, rec: Recorder, tell: Tell): Promise<RecoveryReport> {
  let approvals = 0;
  setHandler(approveSignal, () => void approvals++);

  /** Waits for an operator's `approve` (an abort cancels the wait); nothing is touched while it waits. */
  const gate = async (name: string, evidence: string[]) => {
    const seen = approvals;
    const since = Date.now();
    rec.progress.waitingFor = { gate: name, evidence, since: new Date(since).toISOString() };
    rec.phase(`waiting-approval:${name}`);
    void tell('waiting-approval', `waiting for approval at ${name}: ${evidence.join('; ')}`);
    if (patched('gate-timeout')) {
      const deadline = since + spec.approval.timeoutSeconds * 1000;
      // Reminds the operators while it waits, and gives up at the deadline.
      while (
        !(await condition(() => approvals > seen, Math.max(1, Math.min(deadline - Date.now(), spec.approval.remindEverySeconds * 1000))))
      ) {
        const waited = Math.round((Date.now() - since) / 1000);
        if (Date.now() >= deadline)
          throw ApplicationFailure.nonRetryable(
            `nobody approved the ${name} gate within ${spec.approval.timeoutSeconds} s; evidence: ${evidence.join('; ')}`,
            'ApprovalTimeout',
          );
        void tell('waiting-approval', `still waiting for approval at ${name} (${waited} s): ${evidence.join('; ')}`);
      }
    } else {
      await condition(() => approvals > seen);
    }
    rec.progress.waitingFor = undefined;
    rec.progress.gateWaitMs += Date.now() - since;
  };

  const primary = primaryOf(spec);

  if (input.requireApproval) await gate('start', ['the cluster policy asks for approval before a recovery starts']);

  rec.phase('fence');
  const fence = await rec.step('fence', undefined, (o) => quick.fence.executeWithOptions(o, [spec]));
  if (!fence.details?.proven) {
    const evidence = fence.details?.evidence as string[];
    if (spec.fencing.onUnprovable === 'fail')
      throw ApplicationFailure.nonRetryable(`cannot prove the old primary is down: ${evidence.join('; ')}`, 'SplitBrainRisk');
    await gate('fence', evidence);
  }

  // Read-only checks first: a missing disk, a disk given twice, a foreign local dir stop the run
  // before any disk is attached or mounted.
  rec.phase('preflight');
  await rec.step('preflight', undefined, (o) => quick.preflight.executeWithOptions(o, [spec]));

  // Each step starts as soon as what it needs is there (recorded histories from before replay the
  // old order, step after step).
  const primaryStart = patched('critical-path') ? await criticalPath(spec, input, rec, gate) : await inOrder(spec, input, rec, gate);

  rec.phase('verify');
  // The fingerprint is compared when this run brought the primary back: it did not answer when the
  // run began (fence looked). startNode's `changed` alone is not enough: a retry after a worker
  // crash mid-start finds the primary the dead worker started already serving, and changes nothing.
  const primaryWasDown = !((fence.details?.answering as string[] | undefined) ?? []).includes(primary.name);
  await rec.step('verifyData', undefined, (o) =>
    long.verifyData.executeWithOptions(o, [
      spec,
      `${workflowInfo().workflowId}@${workflowInfo().runId}`,
      primaryStart.changed || primaryWasDown,
    ]),
  );

  const endedAt = Date.now();
  const outcome: Outcome = rec.progress.steps.some((s) => s.changed) ? 'recovered' : 'already-healthy';
  rec.progress.outcome = outcome;
  rec.phase('done');
  setOutcome(rec, outcome);
  const rtoMs = endedAt - Date.parse(rec.progress.startedAt) - rec.progress.gateWaitMs;
  const workflowId = workflowInfo().workflowId;
  const { cluster, gateWaitMs } = rec.progress;
  return {
    headline: headlineOf({ cluster, outcome, rtoMs, gateWaitMs, workflowId }),
    outcome,
    workflowId,
    rtoMs,
    endedAt: new Date(endedAt).toISOString(),
    commandsRun: rec.progress.steps.reduce((a, s) => a + s.commands.length, 0),
    warnings: rec.progress.steps.flatMap((s) => s.warnings ?? []),
    ...rec.progress,
  };
}

type Gate = (name: string, evidence: string[]) => Promise<void>;
const each = <T>(nodes: { name: string }[], fn: (name: string) => Promise<T>) => Promise.all(nodes.map((n) => fn(n.name)));
const roleIn = (spec: ClusterSpec, n: string) => spec.nodes.find((x) => x.name === n)!.role;

/** Slots after the primary serves: the missing ones stop at a gate, then are created. */
async function slotsStep(spec: ClusterSpec, rec: Recorder, gate: Gate): Promise<void> {
  rec.phase('slots');
  const slots = await rec.step('validateSlots', undefined, (o) =>
    quick.validateSlots.executeWithOptions(o, [spec, spec.slots.onMissing === 'create']),
  );
  const missing = (slots.details?.missing as string[] | undefined) ?? [];
  if (missing.length) {
    await gate('slots', [`replication slots missing on the primary: ${missing.join(', ')}; approving creates them empty`]);
    await rec.step('validateSlots', 'create', (o) => quick.validateSlots.executeWithOptions(o, [spec, true]));
  }
}

/** One child workflow per replica: start (and build, unless `built`), then streaming. */
async function replicaChild(spec: ClusterSpec, input: RecoverInput, rec: Recorder, n: string, built?: boolean): Promise<void> {
  const childSearch = patched('child-search-attributes');
  try {
    const steps = await executeChild(rebuildReplica, {
      args: built ? [spec, n, { built }] : [spec, n],
      workflowId: `${workflowInfo().workflowId}/replica/${n}`,
      workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
      ...(childSearch
        ? {
            typedSearchAttributes: [
              { key: ClusterName, value: spec.cluster },
              { key: Trigger, value: input.trigger ?? 'ui' },
            ],
            staticSummary: `rebuild replica ${n} of ${spec.cluster}`,
          }
        : {}),
    });
    rec.adopt(steps);
  } catch (err) {
    // The child's steps travel in its failure's details: the report shows where it stopped.
    const steps = rootFailure(err).details?.[0] as { steps?: StepRecord[] } | undefined;
    if (steps?.steps) rec.adopt(steps.steps);
    throw err;
  }
}

/** The order before critical-path scheduling: storage, binaries, primary, slots, then the rest. */
async function inOrder(spec: ClusterSpec, input: RecoverInput, rec: Recorder, gate: Gate): Promise<StepResult> {
  const primary = primaryOf(spec);
  const shared = sharedNodes(spec);
  const onHost = (n: string) => roleIn(spec, n);
  rec.phase('storage');
  // The first host binds the disk; hosts sharing the device then find it bound and only link it.
  await rec.step(
    'attachStorage',
    primary.name,
    (o) => quick.attachStorage.executeWithOptions(o, [spec, primary.name, 'shared']),
    'primary',
  );
  await each(shared.slice(1), (n) =>
    rec.step('attachStorage', n, (o) => quick.attachStorage.executeWithOptions(o, [spec, n, 'shared']), onHost(n)),
  );
  await each(shared, (n) =>
    rec.step('startStorageDaemon', n, (o) => quick.startStorageDaemon.executeWithOptions(o, [spec, n, 'shared']), onHost(n)),
  );
  await each(spec.nodes, (n) => rec.step('prepareBinaries', n, (o) => quick.prepareBinaries.executeWithOptions(o, [spec, n]), onHost(n)));

  rec.phase('primary');
  await rec.step('buildNode', primary.name, (o) => long.buildNode.executeWithOptions(o, [spec, primary.name]), 'primary');
  const primaryStart = await rec.step(
    'startNode',
    primary.name,
    (o) => long.startNode.executeWithOptions(o, [spec, primary.name]),
    'primary',
  );

  await slotsStep(spec, rec, gate);

  rec.phase('standbys-and-replicas');
  const standbys = each(nodesOf(spec, 'standby'), async (n) => {
    await rec.step('attachStorage', n, (o) => quick.attachStorage.executeWithOptions(o, [spec, n, 'own']), 'standby');
    await rec.step('startStorageDaemon', n, (o) => quick.startStorageDaemon.executeWithOptions(o, [spec, n, 'own']), 'standby');
    await rec.step('buildNode', n, (o) => long.buildNode.executeWithOptions(o, [spec, n]), 'standby');
    await rec.step('startNode', n, (o) => long.startNode.executeWithOptions(o, [spec, n]), 'standby');
    await rec.step('waitStreaming', n, (o) => long.waitStreaming.executeWithOptions(o, [spec, n]), 'standby');
  });
  const replicas = each(nodesOf(spec, 'replica'), (n) => replicaChild(spec, input, rec, n));
  await Promise.all([standbys, replicas]);
  return primaryStart;
}

/** Settles later, but a failure meanwhile is not an unhandled rejection (it is awaited later). */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * Critical-path scheduling: every step starts once what it needs is done. Binaries (and their
 * config templates) beside the storage; each host's storage daemon once its own link is there;
 * the standby's own disk and pfsd once the shared disk is bound; a build that does not read from the primary (the profile says: a polardb replica's
 * skeleton comes from PFS; a standby's from its own disk) while the primary builds and starts.
 * Only starts wait for the primary and its slots; a postgres replica's build (a clone) too.
 */
async function criticalPath(spec: ClusterSpec, input: RecoverInput, rec: Recorder, gate: Gate): Promise<StepResult> {
  const primary = primaryOf(spec);
  const shared = sharedNodes(spec);
  const onHost = (n: string) => roleIn(spec, n);
  rec.phase('storage');
  const binaries = new Map(
    spec.nodes.map((n) => [
      n.name,
      later(rec.step('prepareBinaries', n.name, (o) => quick.prepareBinaries.executeWithOptions(o, [spec, n.name]), onHost(n.name))),
    ]),
  );
  // The first host binds the disk; hosts sharing the device then find it bound and only link it.
  const bound = later(
    rec.step('attachStorage', primary.name, (o) => quick.attachStorage.executeWithOptions(o, [spec, primary.name, 'shared']), 'primary'),
  );
  // Each host's pfsd once its own link is there: the primary's does not wait for the others' attach.
  const storageReady = new Map<string, Promise<unknown>>();
  for (const n of shared) {
    storageReady.set(
      n.name,
      later(
        (async () => {
          await bound;
          if (n.name !== primary.name)
            await rec.step(
              'attachStorage',
              n.name,
              (o) => quick.attachStorage.executeWithOptions(o, [spec, n.name, 'shared']),
              onHost(n.name),
            );
          await rec.step(
            'startStorageDaemon',
            n.name,
            (o) => quick.startStorageDaemon.executeWithOptions(o, [spec, n.name, 'shared']),
            onHost(n.name),
          );
        })(),
      ),
    );
  }
  // A standby's own disk: after the shared one is bound (two `losetup -f` at once may pick the same device).
  for (const n of nodesOf(spec, 'standby')) {
    storageReady.set(
      n.name,
      later(
        (async () => {
          await bound;
          await rec.step('attachStorage', n.name, (o) => quick.attachStorage.executeWithOptions(o, [spec, n.name, 'own']), 'standby');
          await rec.step(
            'startStorageDaemon',
            n.name,
            (o) => quick.startStorageDaemon.executeWithOptions(o, [spec, n.name, 'own']),
            'standby',
          );
        })(),
      ),
    );
  }
  const storageOf = (n: string) => storageReady.get(n);
  const build = async (n: string) => {
    await storageOf(n);
    await binaries.get(n);
    return rec.step('buildNode', n, (o) => long.buildNode.executeWithOptions(o, [spec, n]), onHost(n));
  };
  const early = new Map(
    spec.nodes.filter((n) => n.role !== 'primary' && !buildNeedsPrimary(spec, n)).map((n) => [n.name, later(build(n.name))]),
  );

  await storageOf(primary.name);
  rec.phase('primary');
  await build(primary.name);
  const primaryStart = await rec.step(
    'startNode',
    primary.name,
    (o) => long.startNode.executeWithOptions(o, [spec, primary.name]),
    'primary',
  );
  await slotsStep(spec, rec, gate);

  rec.phase('standbys-and-replicas');
  const standbys = each(nodesOf(spec, 'standby'), async (n) => {
    if (early.has(n)) await early.get(n);
    else await build(n);
    await rec.step('startNode', n, (o) => long.startNode.executeWithOptions(o, [spec, n]), 'standby');
    await rec.step('waitStreaming', n, (o) => long.waitStreaming.executeWithOptions(o, [spec, n]), 'standby');
  });
  const replicas = each(nodesOf(spec, 'replica'), async (n) => {
    if (early.has(n)) await early.get(n);
    else await Promise.all([storageOf(n), binaries.get(n)]);
    await replicaChild(spec, input, rec, n, early.has(n));
  });
  // Every step started is awaited: binaries of nodes no build waited for included.
  await Promise.all([standbys, replicas, ...binaries.values(), ...storageReady.values()]);
  return primaryStart;
}
