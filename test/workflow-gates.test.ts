// The runbook's decisions, with stub activities on a real dev server (no lab, no root): an
// unprovable fence waits at its gate, reminds the operators and gives up at its deadline
// (ApprovalTimeout); `fencing.onUnprovable: fail` stops at once (SplitBrainRisk); a failing step
// leaves a report (type, step, node, cause, what to do) in the failure's details and in progress;
// a recovery refuses to start beside a running failover of its cluster (the real check activity).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createFailoverActivities } from '../activities/failover.js';
import { hostFor } from '../lib/hosts/index.js';
import type { Activities } from '../activities/index.js';
import type { Progress } from '../lib/model/report.js';
import type { ClusterSpecInput } from '../lib/model/spec.js';
import { labSpecAs as specOf, stepResult, stubRunbooks } from './helpers/stub-runbooks.js';
import { failureType } from './helpers/worker.js';

const told: string[] = [];

const ok = (details?: Record<string, unknown>) => stepResult(details, false);

/** Stubs: the fence cannot prove the old primary down; preflight fails when told to. */
const stubs: Partial<Activities> = {
  // The real check: it asks the dev server which runbooks of the cluster run.
  checkRunbooks: createFailoverActivities({ hostFor }).checkRunbooks,
  async fence() {
    return ok({
      proven: false,
      evidence: ['pb1: 127.0.0.1:5432: something accepts connections but did not answer in time'],
      answering: [],
    });
  },
  async preflight(spec) {
    if (spec.cluster.endsWith('broken'))
      throw ApplicationFailure.create({
        type: 'StorageMissing',
        message: 'on pb1: disk image /x.img is not there (storage)',
        nonRetryable: true,
      });
    return ok();
  },
  async notifyOperators(n) {
    told.push(`${n.kind}: ${n.text}`);
  },
};

const runbooks = stubRunbooks('gates', stubs);
const run = runbooks.recover;

test('an unprovable fence waits, reminds, and gives up at the deadline: ApprovalTimeout', { timeout: 120_000 }, async (t) => {
  const cluster = `g${randomBytes(3).toString('hex')}`;
  const t0 = Date.now();
  const handle = await run(specOf(cluster, { approval: { timeoutSeconds: 15, remindEverySeconds: 10 } }));
  const err = await handle.result().then(
    () => assert.fail('should time out'),
    (e: unknown) => e as { cause?: { message?: string; details?: Progress[] } },
  );
  const ms = Date.now() - t0;
  t.diagnostic(`${failureType(err)} after ${ms} ms: ${err.cause?.message}`);
  assert.equal(failureType(err), 'ApprovalTimeout');
  assert.ok(ms >= 15_000 && ms < 30_000, `gave up at the deadline (${ms} ms)`);
  const mine = told.filter((l) => l.includes(cluster));
  assert.equal(
    mine.filter((l) => l.startsWith('waiting-approval: [polar-runbook]') && l.includes('still waiting')).length,
    1,
    mine.join('\n'),
  );
  assert.equal(err.cause?.details?.[0]?.outcome, 'failed');
  assert.equal(err.cause?.details?.[0]?.failure?.type, 'ApprovalTimeout');
});

test('onUnprovable: fail stops at the fence with SplitBrainRisk, touching nothing', async () => {
  const handle = await run(specOf(`g${randomBytes(3).toString('hex')}`, { fencing: { onUnprovable: 'fail' } }));
  const err = await handle.result().catch((e: unknown) => e);
  assert.equal(failureType(err), 'SplitBrainRisk');
});

test('a failed step leaves its report: type, step, cause, what to do; Outcome failed', async () => {
  const cluster = `g${randomBytes(3).toString('hex')}broken`;
  const handle = await run(specOf(cluster, { approval: { timeoutSeconds: 60, remindEverySeconds: 60 } }));
  for (let i = 0; i < 100 && !(await handle.query<Progress>('progress')).waitingFor; i++) await new Promise((r) => setTimeout(r, 100));
  await handle.signal('approve', { by: 'test' });
  const err = (await handle.result().catch((e: unknown) => e)) as { cause?: { details?: Progress[]; message?: string } };
  const p = err.cause!.details![0]!;
  assert.equal(failureType(err), 'StorageMissing');
  assert.deepEqual(
    { type: p.failure!.type, step: p.failure!.step, outcome: p.outcome },
    { type: 'StorageMissing', step: 'preflight', outcome: 'failed' },
  );
  assert.match(p.failure!.cause, /disk image \/x\.img is not there/);
  assert.match(p.failure!.whatToDo, /check the path/);
  assert.deepEqual(p.failure!.completed, ['checkRunbooks', 'fence']);
  const d = await handle.describe();
  assert.equal(d.searchAttributes.Outcome?.[0], 'failed');
  assert.ok(p.gateWaitMs > 0, 'the time at the gate is counted apart');
});

test('a recovery refuses to run beside a running failover of its cluster: RunbookConflict before the fence', async () => {
  const cluster = `g${randomBytes(3).toString('hex')}`;
  const base = specOf(cluster, { fencing: { onUnprovable: 'fail' }, approval: { timeoutSeconds: 120, remindEverySeconds: 60 } });
  const { role: _role, ...pb2 } = base.nodes.find((n) => n.name === 'pb2')!;
  void _role;
  const spec: ClusterSpecInput = {
    ...base,
    failover: { replicasAfter: [{ ...pb2, localDir: `${pb2.localDir}-after-failover` }] },
  };
  // A failover parked at its start gate: running, touching nothing.
  const failover = await runbooks.client().workflow.start('failoverToStandby', {
    taskQueue: runbooks.queue,
    workflowId: `failover/${cluster}`,
    args: [{ spec, trigger: 'test', requireApproval: true }],
  });
  for (let i = 0; (await failover.query<Progress>('progress')).waitingFor?.gate !== 'start'; i++) {
    assert.ok(i < 100, 'the failover waits at its start gate');
    await new Promise((r) => setTimeout(r, 100));
  }
  const refused = (await (await run(spec)).result().catch((e: unknown) => e)) as { cause?: { details?: Progress[] } };
  assert.equal(failureType(refused), 'RunbookConflict');
  const p = refused.cause!.details![0]!;
  assert.deepEqual({ step: p.failure!.step, completed: p.failure!.completed }, { step: 'checkRunbooks', completed: [] });
  assert.match(
    p.failure!.cause,
    new RegExp(`the failover failover/${cluster} \\(run [0-9a-f-]+\\) is running since .*: a recovery must not act beside it`),
  );
  assert.ok(!p.steps.some((s) => s.step === 'fence'), 'the fence never ran');

  // Once the failover has ended, the recovery goes on past the check (and stops at this stub's unprovable fence).
  await failover.signal('abort', { by: 'test', reason: 'test' });
  assert.equal(failureType(await failover.result().catch((e: unknown) => e)), 'Aborted');
  const after = (await (await run(spec)).result().catch((e: unknown) => e)) as { cause?: { details?: Progress[] } };
  assert.equal(failureType(after), 'SplitBrainRisk');
  assert.deepEqual(after.cause!.details![0]!.failure!.completed, ['checkRunbooks', 'fence']);
  const check = after.cause!.details![0]!.steps.find((s) => s.id === 'checkRunbooks')!;
  assert.match(check.verified.join('\n'), new RegExp(`failover/${cluster} is not running \\(failed\\)`));
});
