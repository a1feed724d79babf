// The approval gate and the abort signal, on a real lab after its disaster: a recovery started with
// requireApproval waits at its first gate with nothing touched (no loop device for the images, no
// /dev link, no mount, no local dir, no command run) until an operator answers. `abort` there ends
// it as Aborted, listing what had completed (nothing); `approve` lets it recover the cluster. An
// abort while steps run ends it at the next step, the message listing the steps completed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { Progress, RecoveryReport } from '../lib/model/report.js';
import { createLab, destroyLab, labPaths, type Lab } from '../lab/lab.js';
import { abortSignal, approveSignal, progressQuery } from '../workflows/definitions.js';
import { lineOf, logOffset, readCommandLog } from './helpers/command-log.js';
import { activityCalls, completes, fetchAll, HistoryWatcher } from './helpers/history.js';
import { noRecoveryRunning, recordedFingerprint, sameData, sleep, toDisaster } from './helpers/recovery.js';
import { imageDigest, linkTargetOf, loopsOf, mountsAt } from './helpers/system.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';

const tmp = mkdtempSync(join(tmpdir(), 'approval-'));
const commandLog = join(tmp, 'commands.jsonl');
let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab | undefined;

before(async () => {
  env = await startTemporal();
  worker = await runWorker(env, { commandLog });
  lab = await createLab({ replicas: 1 });
});
after(async () => {
  await worker?.stop();
  if (lab) await destroyLab(lab);
  await env?.teardown();
  rmSync(tmp, { recursive: true, force: true });
});

/** Everything a recovery could have touched, as it is now. */
async function touched(): Promise<Record<string, unknown>> {
  const p = labPaths(lab!.id);
  const out: Record<string, unknown> = {};
  for (const d of ['shared', 'standby'] as const)
    out[d] = {
      digest: await imageDigest(p.image[d]),
      loops: await loopsOf(p.image[d]),
      link: linkTargetOf(p.link[d]) ?? null,
      mounts: mountsAt(p.mountPoint[d]),
    };
  out.localDirs = lab!.spec.nodes.filter((n) => n.role !== 'standby').map((n) => existsSync(n.localDir));
  return out;
}

/** A recovery that asks for approval first, once it waits at the gate. */
async function gated(): Promise<{ handle: WorkflowHandle; progress: Progress; from: number }> {
  await noRecoveryRunning(env.client, lab!.spec.cluster);
  const from = logOffset(commandLog);
  const { handle, started } = await startOrAttachRecovery(env.client, lab!.spec.cluster, {
    spec: lab!.spec,
    trigger: 'test',
    requireApproval: true,
  });
  assert.ok(started);
  let progress = await handle.query(progressQuery);
  for (let i = 0; !progress.waitingFor && i < 100; i++) {
    await sleep(100);
    progress = await handle.query(progressQuery);
  }
  return { handle, progress, from };
}

test('requireApproval: it waits at the gate touching nothing; abort ends it as Aborted', { timeout: 120_000 }, async (t) => {
  await toDisaster(env.client, lab!);
  const before = await touched();
  assert.deepEqual(
    [(before.shared as { loops: string[] }).loops, (before.shared as { mounts: number }).mounts],
    [[], 0],
    'after the disaster nothing is attached',
  );
  const { handle, progress, from } = await gated();
  assert.equal(progress.waitingFor?.gate, 'start');
  assert.match(progress.waitingFor!.evidence.join('\n'), /approval before a recovery starts/);
  assert.equal(progress.phase, 'waiting-approval:start');
  assert.deepEqual(progress.steps, [], 'no step ran');
  await sleep(1500); // it keeps waiting
  assert.equal((await handle.query(progressQuery)).waitingFor?.gate, 'start');
  assert.deepEqual(await touched(), before, 'nothing touched while waiting: no loop device, link, mount or local dir; images unchanged');
  assert.deepEqual(readCommandLog(commandLog, from).map(lineOf), [], 'no command ran');

  await handle.signal(abortSignal, { by: 'test', reason: 'drill cancelled' });
  const err = (await handle.result().catch((e: unknown) => e)) as { cause?: { message?: string } };
  assert.equal(failureType(err), 'Aborted');
  t.diagnostic(`failure: ${err.cause?.message}`);
  assert.match(String(err.cause?.message), /aborted \(drill cancelled\) before the next step; completed: nothing/);
  const calls = activityCalls(await fetchAll(env.client, handle.workflowId, (await handle.describe()).runId));
  assert.deepEqual(
    calls.filter((c) => c.type !== 'notifyOperators').map((c) => c.key),
    [],
    'no step was scheduled',
  );
  assert.deepEqual(await touched(), before, 'still nothing touched');
});

test('requireApproval: approve lets it recover the cluster', { timeout: 180_000 }, async (t) => {
  // The lab is as the first test left it (after its disaster, untouched by the aborted recovery).
  await toDisaster(env.client, lab!);
  const recorded = recordedFingerprint(lab!.spec);
  const before = await touched();
  const { handle, progress, from } = await gated();
  assert.equal(progress.waitingFor?.gate, 'start');
  assert.deepEqual(progress.steps, []);
  assert.deepEqual(await touched(), before, 'nothing touched before the approval');
  assert.deepEqual(readCommandLog(commandLog, from).map(lineOf), []);

  await handle.signal(approveSignal, { by: 'test', note: 'go' });
  const report = (await handle.result()) as RecoveryReport;
  t.diagnostic(`${report.outcome} in ${(report.rtoMs / 1000).toFixed(1)} s after approval`);
  assert.equal(report.outcome, 'recovered');
  assert.equal(report.waitingFor, undefined);
  assert.deepEqual(
    report.steps.filter((s) => s.state !== 'done').map((s) => s.id),
    [],
  );
  assert.ok(report.steps.find((s) => s.id === 'verifyData')!.verified.some((v) => /^fingerprint of \d+ tables matches/.test(v)));
  await sameData(lab!.spec, recorded);
});

test('an abort while steps run stops it at the next step; the message lists the completed steps', { timeout: 120_000 }, async (t) => {
  await toDisaster(env.client, lab!);
  await noRecoveryRunning(env.client, lab!.spec.cluster);
  const { handle } = await startOrAttachRecovery(env.client, lab!.spec.cluster, { spec: lab!.spec, trigger: 'test' });
  const watch = new HistoryWatcher(env.client, handle.workflowId, (await handle.describe()).runId);
  try {
    await watch.waitFor((e, all) => completes('attachStorage:pb1', e, all), 60_000, 'attachStorage:pb1');
    await handle.signal(abortSignal, { by: 'test', reason: 'operator says stop' });
    const err = (await handle.result().catch((e: unknown) => e)) as { cause?: { message?: string } };
    assert.equal(failureType(err), 'Aborted');
    const message = String(err.cause?.message);
    t.diagnostic(`failure: ${message}`);
    const listed = /completed: (.*)$/.exec(message)?.[1]?.split(', ') ?? [];
    const history = await fetchAll(env.client, handle.workflowId, (await handle.describe()).runId);
    const done = activityCalls(history)
      .filter((c) => c.type !== 'notifyOperators' && c.outcome === 'completed')
      .map((c) => c.key);
    assert.ok(
      ['fence', 'preflight', 'attachStorage:pb1'].every((s) => listed.includes(s)),
      `the steps done before the abort are listed: ${listed.join(', ')}`,
    );
    assert.deepEqual([...listed].sort(), [...done].sort(), 'the message lists exactly the completed steps');
    assert.ok(!done.includes('verifyData'), 'the recovery stopped before its end');
  } finally {
    await watch.stop();
  }
});
