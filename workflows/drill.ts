// drill: a DR drill. Proves a cluster can be recovered from its storage, and how fast, without
// touching it: copies its disks into a sandbox (crash-consistent), recovers the copy with the
// real recoverCluster as a child workflow under its own names, ports and paths, takes the
// sandbox away again and records the result. A failover drill (input.failover) starts the sandbox
// standby on the copy of its disk and runs the real failoverToStandby on the sandbox instead.
import {
  ApplicationFailure,
  CancellationScope,
  executeChild,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { isDrillWorkflowIdOf, isScheduledDrillId, type DrillInput, type DrillResult, type DrillStep } from '../lib/model/drill.js';
import { rootFailure } from '../lib/model/failures.js';
import { failoverWorkflowId, recoveryWorkflowId } from '../lib/model/input.js';
import type { FailoverReport, RecoveryReport } from '../lib/model/report.js';
import { sandboxDirName, sandboxSpec, SandboxError, type Sandbox } from '../lib/model/sandbox.js';
import { ClusterName, Phase, Trigger } from '../lib/model/search-attributes.js';
import { failoverStandby } from '../lib/model/failover.js';
import { failoverToStandby } from './failover.js';
import { long as nodeLong, quick as nodeQuick } from './options.js';
import { recoverCluster } from './recover-cluster.js';
import { timed } from './recorder.js';
import { specFrom } from './spec-input.js';

const retry: ActivityOptions['retry'] = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };
/** Asking the server, picking ports, appending a line. */
const quick = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '30s', retry });
/** Copying disks and taking the sandbox away: long, heartbeating all along. */
const long = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '30s',
  retry: { ...retry, maximumAttempts: 3 },
});

export async function drill(input: DrillInput): Promise<DrillResult> {
  const spec = await specFrom(input);
  const info = workflowInfo();
  if (!isDrillWorkflowIdOf(spec.cluster, info.workflowId))
    throw ApplicationFailure.nonRetryable(`start this drill with workflow id drill/${spec.cluster}`, 'SpecInvalid');
  const trigger = input.trigger ?? (isScheduledDrillId(spec.cluster, info.workflowId) ? 'schedule' : 'ui');
  const phase = (name: string) => upsertSearchAttributes([{ key: Phase, value: name }]);
  upsertSearchAttributes([
    { key: ClusterName, value: spec.cluster },
    { key: Trigger, value: trigger },
  ]);

  const t0 = Date.now();
  const result: DrillResult = {
    cluster: spec.cluster,
    workflowId: info.workflowId,
    runId: info.runId,
    trigger,
    startedAt: new Date(t0).toISOString(),
    endedAt: '',
    durationMs: 0,
    outcome: 'failed',
    steps: [],
  };
  const step = <T>(name: DrillStep['name'], fn: () => Promise<T>, details?: (r: T) => Record<string, unknown> | undefined) => {
    const s: DrillStep = { name, state: 'running' };
    result.steps.push(s);
    return timed(s, fn, (r) => {
      const d = details?.(r);
      if (d) s.details = d;
    });
  };
  const self = { workflowId: info.workflowId, runId: info.runId };

  let sandbox: Sandbox | undefined;
  let made = false;
  try {
    if (input.failover && !spec.failover)
      throw ApplicationFailure.nonRetryable(
        `a failover drill needs the spec's failover section: give failover.replicasAfter for ${spec.cluster} first`,
        'SpecInvalid',
      );
    phase('drill:check');
    await step('checkIdle', () => quick.checkIdle(spec.cluster, self));
    // Only a failover drill asks for (and so passes) the second argument: a recovery drill's commands stay as they were.
    const { root, ports } = await step('reserveSandbox', () =>
      input.failover ? quick.reserveSandbox(spec, true) : quick.reserveSandbox(spec),
    );
    const params = {
      root,
      name: sandboxDirName(spec.cluster, info.runStartTime),
      ports: ports.slice(0, spec.nodes.length),
      ...(input.failover ? { failoverPorts: ports.slice(spec.nodes.length) } : {}),
      // The run id's last six hex digits: its random part (a UUIDv7 starts with the time).
      seed: info.runId.replace(/-/g, '').slice(-6).toLowerCase(),
    };
    try {
      sandbox = sandboxSpec(spec, params);
    } catch (err) {
      if (err instanceof SandboxError) throw ApplicationFailure.nonRetryable(err.message, 'SpecInvalid');
      throw err;
    }
    result.sandbox = { cluster: sandbox.sandboxCluster, dir: sandbox.dir, kept: !!input.keepSandbox };

    phase('drill:snapshot');
    made = true;
    const snap = await step(
      'snapshotStorage',
      () => long.snapshotStorage(spec, sandbox!, self),
      (r) => ({
        copyMethod: r.details.copyMethod,
        copies: r.details.copies,
        marker: r.details.marker ?? 'none: the production primary did not answer',
        ...(r.details.standbyDirs ? { standbyDirs: r.details.standbyDirs } : {}),
      }),
    );
    const devices = snap.details.deviceCopies;
    const marker = snap.details.marker;
    result.copyMethod = snap.details.copyMethod;
    // The sandbox's verify must find the marker written on production before the copy.
    if (devices.length || marker)
      sandbox = sandboxSpec(spec, {
        ...params,
        ...(devices.length ? { deviceCopies: devices } : {}),
        ...(marker ? { marker: { id: marker.id, lsn: marker.lsn } } : {}),
      });
    // A recovery that started while the disks were copied: production is in trouble, the copy may
    // be of a failing cluster, and the real recovery needs the machine more than a drill does.
    await step('checkIdle', () => quick.checkIdle(spec.cluster, self));

    if (input.failover) {
      // The second disaster on the copy: the sandbox standby serves on its disk's copy (as the real
      // one survives the loss of the shared storage), then the real failover runs on the sandbox.
      const sb = sandbox.spec;
      const standby = failoverStandby(sb).name;
      phase('drill:standby');
      await step('startSandboxStandby', async () => {
        await nodeQuick.attachStorage(sb, standby, 'own');
        await nodeQuick.startStorageDaemon(sb, standby, 'own');
        await nodeQuick.prepareBinaries(sb, standby);
        await nodeLong.buildNode(sb, standby);
        await nodeLong.startNode(sb, standby);
      });
      phase('drill:failover');
      const failoverId = failoverWorkflowId(sandbox.sandboxCluster);
      const report: FailoverReport = await step(
        'failoverSandbox',
        () => executeChild(failoverToStandby, { args: [{ spec: sb, trigger: 'drill' }], workflowId: failoverId }),
        (r) => ({ workflowId: r.workflowId, outcome: r.outcome, rtoMs: r.rtoMs, rpo: r.rpo }),
      );
      result.failover = {
        workflowId: failoverId,
        outcome: report.outcome,
        rtoMs: report.rtoMs,
        rpo: report.rpo,
        promoted: report.promoted,
        commandsRun: report.commandsRun,
        steps: report.steps.map((s) => ({ id: s.id, state: s.state, durationMs: s.durationMs })),
      };
      result.rtoMs = report.rtoMs;
      if (report.outcome === 'failed-over') result.outcome = 'failed-over';
      else {
        result.error = `the sandbox failover ended ${report.outcome}: its standby was read-write already, so nothing was rehearsed`;
        result.errorType = 'DrillFailed';
      }
    } else {
      phase('drill:recover');
      const childId = recoveryWorkflowId(sandbox.sandboxCluster);
      const report: RecoveryReport = await step(
        'recoverSandbox',
        () => executeChild(recoverCluster, { args: [{ spec: sandbox!.spec, trigger: 'drill' }], workflowId: childId }),
        (r) => ({ workflowId: r.workflowId, outcome: r.outcome, rtoMs: r.rtoMs }),
      );
      result.recovery = {
        workflowId: childId,
        outcome: report.outcome,
        rtoMs: report.rtoMs,
        commandsRun: report.commandsRun,
        steps: report.steps.map((s) => ({ id: s.id, state: s.state, durationMs: s.durationMs })),
      };
      result.rtoMs = report.rtoMs;
      if (report.outcome === 'recovered') result.outcome = 'recovered';
      else {
        result.error = `the sandbox recovery ended ${report.outcome}: a copy that needs no recovery proves nothing`;
        result.errorType = 'DrillFailed';
      }
    }
  } catch (err) {
    const cause = rootFailure(err);
    result.error = cause.message;
    result.errorType = cause.type ?? 'DrillFailed';
  }

  // Whatever happened (a failure, a cancellation), the sandbox goes, unless asked to keep it.
  await CancellationScope.nonCancellable(async () => {
    if (sandbox && made && !input.keepSandbox) {
      phase('drill:teardown');
      try {
        await step('teardownSandbox', () => long.teardownSandbox(sandbox!));
      } catch (err) {
        const cause = rootFailure(err);
        result.outcome = 'failed';
        result.error = [result.error, `teardown: ${cause.message}`].filter(Boolean).join('; ');
        result.errorType ??= 'SandboxTeardownFailed';
      }
    }
    const ended = Date.now();
    result.endedAt = new Date(ended).toISOString();
    result.durationMs = ended - t0;
    phase('drill:record');
    // The line written is the result up to here; the record step itself shows only in the return value.
    const line: DrillResult = { ...result, steps: [...result.steps] };
    await step('recordDrill', () => quick.recordDrill(line)).catch(() => {});
  });
  phase(`drill:${result.outcome}`);

  if (result.outcome !== 'recovered' && result.outcome !== 'failed-over')
    throw ApplicationFailure.create({
      type: result.errorType ?? 'DrillFailed',
      message: `drill of ${spec.cluster} failed: ${result.error ?? 'unknown error'}`,
      nonRetryable: true,
      details: [result],
    });
  return result;
}
