// DR drills end to end, on a real lab and a real Temporal dev server: a schedule (through
// client/schedule.ts) is triggered; its drill copies the serving production cluster's disks into
// a sandbox, recovers the copy with recoverCluster, takes the sandbox away and records the
// result. Production keeps serving throughout and is left exactly as it was. A drill while a
// real recovery of the cluster runs is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { fingerprint, whoAnswers, withDb } from '../lib/db.js';
import { readDrillHistory } from '../client/drill-history.js';
import {
  createDrillSchedule,
  deleteDrillSchedule,
  describeDrillSchedule,
  listDrillSchedules,
  pauseDrillSchedule,
  triggerDrillSchedule,
  unpauseDrillSchedule,
  waitForScheduledDrill,
} from '../client/schedule.js';
import { drillOutcome, startDrill } from '../client/start-drill.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { teardownKeptSandbox } from '../client/teardown-sandbox.js';
import { renderDrillResult, type DrillResult } from '../lib/model/drill.js';
import { nodesOf, primaryOf } from '../lib/model/spec.js';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { exists, mountPoints, postgresIn } from '../lab/system.js';
import { abortSignal, progressQuery } from '../workflows/definitions.js';
import { within } from '../lib/model/paths.js';
import type { Sandbox } from '../lib/model/sandbox.js';
import { loopsBelow, productionLoad, productionState, removeSandboxLeftovers, sandboxLeftovers, sandboxLinks } from './helpers/drill.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab;
let tmp: string;
let history: string;
let scheduled = false;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'polar-drill-test-'));
  history = join(tmp, 'drill-history.jsonl');
  env = await startTemporal();
  worker = await runWorker(env, { drillHistory: history });
  lab = await createLab({ replicas: 1 });
});

after(async () => {
  if (scheduled) await deleteDrillSchedule(env.client, lab.id).catch(() => {});
  await worker?.stop();
  if (lab) {
    await removeSandboxLeftovers(lab.id);
    await destroyLab(lab);
  }
  await env?.teardown();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('a scheduled drill recovers a copy in a sandbox; production keeps serving and is left as it was', async (t) => {
  const client = env.client;
  const before = await productionState(lab);

  // A far-future cron (leap days only): it never fires by itself during the test.
  await createDrillSchedule(client, { cluster: lab.id, cron: '0 0 29 2 *', spec: lab.spec, note: 'drill test' });
  scheduled = true;
  const described = (await describeDrillSchedule(client, lab.id))!;
  assert.ok(described.info.nextActionTimes[0]!.getTime() > Date.now() + 30 * 86400_000, 'next run is far away');
  assert.equal(described.policies.overlap, 'SKIP');
  assert.equal(described.policies.catchupWindow, 3600_000);
  assert.equal(described.state.note, 'drill test');

  const load = productionLoad(lab.spec, 100_000);
  await triggerDrillSchedule(client, lab.id);
  const { workflowId, runId } = await waitForScheduledDrill(client, lab.id, 0);
  assert.match(workflowId, new RegExp(`^drill/${lab.id}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
  const result = (await client.workflow.getHandle(workflowId, runId).result()) as DrillResult;
  const stats = await load.stop();
  for (const line of renderDrillResult(result).split('\n')) t.diagnostic(line);
  const maxMs = Math.max(...stats.latenciesMs);
  t.diagnostic(
    `production during the drill: ${stats.writes.length} writes, slowest ${maxMs} ms (the freeze), errors: ${stats.errors.length}`,
  );

  // The drill: a real recovery of the copy, timed.
  assert.equal(result.outcome, 'recovered');
  assert.equal(result.trigger, 'schedule');
  assert.ok(result.rtoMs! > 0, 'RTO recorded');
  assert.equal(result.recovery?.outcome, 'recovered');
  assert.equal(result.recovery?.workflowId, `recover/${result.sandbox!.cluster}`);
  assert.deepEqual(
    result.steps.map((s) => [s.name, s.state]),
    [
      ['checkIdle', 'done'],
      ['reserveSandbox', 'done'],
      ['snapshotStorage', 'done'],
      ['checkIdle', 'done'],
      ['recoverSandbox', 'done'],
      ['teardownSandbox', 'done'],
      ['recordDrill', 'done'],
    ],
  );
  const ids = result.recovery!.steps.map((s) => s.id);
  for (const id of [
    'fence',
    'attachStorage:pb1',
    'startNode:pb1',
    'validateSlots',
    'buildNode:pb2',
    'waitStreaming:pb2',
    'waitStreaming:pb3',
    'verifyData',
  ])
    assert.ok(ids.includes(id), `the sandbox recovery ran ${id}`);
  const copies = result.steps.find((s) => s.name === 'snapshotStorage')!.details!.copies as {
    method: string;
    frozen: string[];
    frozenMs: number;
    bytes: number;
    ms: number;
  }[];
  for (const c of copies) t.diagnostic(`copy: ${JSON.stringify(c)}`);
  assert.deepEqual(
    copies.map((c) => [c.method, c.frozen]),
    [
      // Both disks frozen together: one instant, as a power cut leaves them.
      ['fsfreeze+cp', [`${lab.root}/mnt/standby`, `${lab.root}/mnt/shared`]],
      ['fsfreeze+cp', [`${lab.root}/mnt/standby`, `${lab.root}/mnt/shared`]],
    ],
  );

  // Recorded in the drill history file.
  const lines = readDrillHistory(history, lab.id);
  const line = lines.find((l) => l.runId === runId);
  assert.ok(line, 'the drill history has the drill');
  assert.equal(line.outcome, 'recovered');
  assert.equal(line.rtoMs, result.rtoMs);

  // Production kept serving: every write went through, the replica and the standby streamed all along.
  assert.deepEqual(stats.errors, []);
  assert.ok(stats.writes.length >= 5, `writes during the drill: ${stats.writes.length}`);
  const last = stats.writes.at(-1)!;
  for (const node of [...nodesOf(lab.spec, 'replica'), ...nodesOf(lab.spec, 'standby')])
    for (let i = 0; ; i++) {
      const seen = await withDb(
        lab.spec,
        node,
        async (db) => (await db.query('select count(*)::int as n from t1 where id = $1', [last])).rows[0].n,
      );
      if (seen === 1) break;
      assert.ok(i < 100, `the last write is not visible on ${node.name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  // ... and nothing of it changed: files, disks, links, mounts, processes, ports, slots.
  assert.deepEqual(await productionState(lab), before);

  // Nothing of the sandbox is left.
  const dir = result.sandbox!.dir;
  assert.equal(await exists(dir), false, `${dir} removed`);
  assert.deepEqual(await loopsBelow(dir), []);
  assert.deepEqual(
    (await mountPoints()).filter((m) => within(dir, m)),
    [],
  );
  assert.deepEqual(await postgresIn((cwd) => within(dir, cwd)), []);
  assert.deepEqual(await sandboxLinks(lab.id), []);

  // The schedule lists the drill with its result; pause and unpause carry a note.
  const mine = (await listDrillSchedules(client)).find((s) => s.cluster === lab.id)!;
  assert.equal(mine.cron, '0 0 29 2 *');
  assert.deepEqual(
    mine.recent.map((r) => [r.workflowId, r.status, r.outcome, r.rtoMs]),
    [[workflowId, 'COMPLETED', 'recovered', result.rtoMs]],
  );
  await pauseDrillSchedule(client, lab.id, 'maintenance window');
  const paused = (await describeDrillSchedule(client, lab.id))!.state;
  assert.deepEqual([paused.paused, paused.note], [true, 'maintenance window']);
  await unpauseDrillSchedule(client, lab.id, 'back');
  assert.equal((await describeDrillSchedule(client, lab.id))!.state.paused, false);
  await deleteDrillSchedule(client, lab.id);
  scheduled = false;
  assert.equal(await describeDrillSchedule(client, lab.id), undefined);
});

test('a drill while the real recovery of the cluster runs is refused, touching nothing', async () => {
  const client = env.client;
  const before = await productionState(lab);
  // A recovery that waits at its first gate, before touching anything.
  const { handle: recovery } = await startOrAttachRecovery(client, lab.id, { spec: lab.spec, trigger: 'test', requireApproval: true });
  for (let i = 0; ; i++) {
    const p = await recovery.query(progressQuery).catch(() => undefined);
    if (p?.waitingFor?.gate === 'start') break;
    assert.ok(i < 200, 'the recovery waits at its start gate');
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    const drill = await startDrill(client, lab.id, { spec: lab.spec, trigger: 'test' });
    const { result, error } = await drillOutcome(drill);
    assert.match(error ?? '', new RegExp(`the recovery recover/${lab.id} \\(run [^)]+\\) is running`));
    assert.match(error ?? '', /a drill never runs beside it/);
    assert.equal(result?.outcome, 'failed');
    assert.equal(result?.errorType, 'RecoveryRunning');
    assert.equal(result?.sandbox, undefined, 'no sandbox was made');
    assert.ok(
      readDrillHistory(history, lab.id).some(
        (l) => l.runId === result?.runId && l.errorType === 'RecoveryRunning' && l.outcome === 'refused',
      ),
      'the refusal is in the drill history, as refused',
    );
  } finally {
    await recovery.signal(abortSignal, { reason: 'drill test over' });
    await recovery.result().then(
      () => assert.fail('the aborted recovery succeeded'),
      (err) => assert.equal(failureType(err), 'Aborted'),
    );
  }
  const left = await sandboxLeftovers(lab.id);
  assert.deepEqual(left, { dirs: [], processes: [], mounts: [], loops: [], links: [] });
  assert.deepEqual(await productionState(lab), before);
});

test('keepSandbox leaves the recovered copy serving production data under its own names; drill teardown takes it away', async (t) => {
  const client = env.client;
  const before = await productionState(lab);
  const drill = await startDrill(client, lab.id, { spec: lab.spec, trigger: 'test', keepSandbox: true });
  const { result, error } = await drillOutcome(drill);
  assert.equal(error, undefined);
  assert.equal(result!.outcome, 'recovered');
  assert.deepEqual(
    result!.steps.map((s) => s.name),
    ['checkIdle', 'reserveSandbox', 'snapshotStorage', 'checkIdle', 'recoverSandbox', 'recordDrill'],
    'no teardown',
  );
  const dir = result!.sandbox!.dir;
  assert.equal(result!.sandbox!.kept, true);
  const sb = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')) as Sandbox;
  const sandbox = sb.spec;
  t.diagnostic(`sandbox ${sandbox.cluster}: ${sandbox.nodes.map((n) => `${n.name}:${n.port}`).join(' ')}`);

  // The copy serves, as the sandbox's own nodes, the production data as of the snapshot.
  const tables = ['t', 't2', 'tbl']; // t1 takes the other test's writes
  const prodPrint = await withDb(lab.spec, primaryOf(lab.spec), (db) => fingerprint(db, tables));
  for (const n of sandbox.nodes) {
    const who = await whoAnswers(sandbox, n);
    assert.deepEqual(who, { state: 'ours', inRecovery: n.role !== 'primary' }, `${n.name} of the sandbox serves`);
  }
  assert.deepEqual(await withDb(sandbox, primaryOf(sandbox), (db) => fingerprint(db, tables)), prodPrint);
  const streaming = await withDb(sandbox, primaryOf(sandbox), async (db) =>
    (await db.query(`select application_name, state from pg_stat_replication order by 1`)).rows.map((r) => [r.application_name, r.state]),
  );
  assert.deepEqual(streaming, [
    ['replica1', 'streaming'],
    ['standby1', 'streaming'],
  ]);
  // A write to the sandbox stays in the sandbox.
  await withDb(sandbox, primaryOf(sandbox), (db) => db.query('insert into t2 values (4242)'));
  assert.equal(
    await withDb(
      lab.spec,
      primaryOf(lab.spec),
      async (db) => (await db.query('select count(*)::int as n from t2 where id = 4242')).rows[0].n,
    ),
    0,
  );
  assert.deepEqual(await productionState(lab), before);

  const removed = await teardownKeptSandbox(dir);
  t.diagnostic(`teardown: ${JSON.stringify(removed)}`);
  assert.deepEqual(await sandboxLeftovers(lab.id), { dirs: [], processes: [], mounts: [], loops: [], links: [] });
  assert.deepEqual(await productionState(lab), before);
});

test('a drill of a cluster that is down, with a snapshot command from the spec', async (t) => {
  await disaster(lab);
  const before = await productionState(lab);
  // Nothing is mounted after the disaster: a plain copy is consistent. (A SAN or LVM snapshot goes here in real life.)
  const spec = {
    ...lab.spec,
    drill: { snapshotCommand: ['/usr/bin/cp', '--sparse=always', '{image}', '{target}'], maxFreezeSeconds: 300 },
  };
  const { result, error } = await drillOutcome(await startDrill(env.client, lab.id, { spec, trigger: 'test' }));
  for (const line of result ? renderDrillResult(result).split('\n') : [String(error)]) t.diagnostic(line);
  assert.equal(result?.outcome, 'recovered');
  const copies = result!.steps.find((s) => s.name === 'snapshotStorage')!.details!.copies as { method: string; frozen: string[] }[];
  assert.deepEqual(
    copies.map((c) => [c.method, c.frozen]),
    [
      ['snapshotCommand', []],
      ['snapshotCommand', []],
    ],
  );
  assert.deepEqual(await sandboxLeftovers(lab.id), { dirs: [], processes: [], mounts: [], loops: [], links: [] });
  assert.deepEqual(await productionState(lab), before, 'the crashed production cluster is left exactly as it was');
});
