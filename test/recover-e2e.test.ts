// End to end on a real lab and a real Temporal dev server: build a cluster, destroy its hosts,
// recover it with recoverCluster, check slots, streaming, data and a probe write everywhere; then
// run the same workflow again on the healthy cluster: it succeeds and changes nothing.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { after, before, test, type TestContext } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { fingerprint, withDb, type Fingerprint } from '../lib/db.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { renderReport, type RecoveryReport } from '../lib/model/report.js';
import { nodesOf, primaryOf } from '../lib/model/spec.js';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { startTemporal } from './helpers/temporal.js';
import { runWorker, type RunningWorker } from './helpers/worker.js';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab;

before(async () => {
  env = await startTemporal();
  worker = await runWorker(env);
  lab = await createLab({ replicas: 1 });
});
after(async () => {
  await worker?.stop();
  if (lab) await destroyLab(lab);
  await env?.teardown();
});

async function recover(t: TestContext): Promise<RecoveryReport> {
  const { handle } = await startOrAttachRecovery(env.client, lab.spec.cluster, { spec: lab.spec, trigger: 'test' });
  const report = (await handle.result()) as RecoveryReport;
  for (const line of renderReport(report).split('\n')) t.diagnostic(line);
  if (process.env.RECORD_HISTORIES) {
    mkdirSync('test/histories', { recursive: true });
    const history = await handle.fetchHistory();
    writeFileSync(`test/histories/recover-${report.outcome}.json`, JSON.stringify(history, null, 1));
  }
  return report;
}

test('recovers the lab cluster from its storage alone', async (t) => {
  await disaster(lab);
  const before: Fingerprint = JSON.parse(readFileSync(lab.spec.verify.fingerprintFile!, 'utf8')).tables;
  const report = await recover(t);
  assert.equal(report.outcome, 'recovered');
  const failed = report.steps.filter((s) => s.state !== 'done');
  assert.deepEqual(failed, []);

  const spec = lab.spec;
  const primary = primaryOf(spec);
  await withDb(spec, primary, async (db) => {
    const slots = (await db.query('select slot_name, slot_type, active from pg_replication_slots order by 1')).rows;
    assert.deepEqual(slots, [
      { slot_name: 'replica1', slot_type: 'physical', active: true },
      { slot_name: 'standby1', slot_type: 'physical', active: true },
    ]);
    const streaming = (await db.query(`select application_name, state from pg_stat_replication order by 1`)).rows;
    assert.deepEqual(streaming, [
      { application_name: 'replica1', state: 'streaming' },
      { application_name: 'standby1', state: 'streaming' },
    ]);
    assert.deepEqual(
      await fingerprint(db, Object.keys(before)),
      before,
      'data after recovery equals the fingerprint taken before the disaster',
    );
    await db.query('insert into t1 values (100)'); // the seed's check: write on the primary...
  });
  for (const node of [...nodesOf(spec, 'replica'), ...nodesOf(spec, 'standby')]) {
    // ...and read it on every replica and standby.
    for (let i = 0; ; i++) {
      const n = await withDb(spec, node, async (db) => (await db.query('select count(*)::int as n from t1 where id = 100')).rows[0].n);
      if (n === 1) break;
      assert.ok(i < 100, `row 100 not visible on ${node.name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const verify = report.steps.find((s) => s.step === 'verifyData')!;
  for (const n of ['pb2', 'pb3'])
    assert.ok(
      verify.verified.some((v) => v.includes(`visible on ${n}`)),
      `probe row verified on ${n}`,
    );
});

test('running it again on the healthy cluster succeeds and changes nothing', async (t) => {
  const report = await recover(t);
  assert.equal(report.outcome, 'already-healthy');
  assert.deepEqual(
    report.steps.filter((s) => s.changed),
    [],
  );
  // Only the verification probe writes; no step ran a command that acts on a host.
  const acting = report.steps.filter((s) => s.step !== 'verifyData').flatMap((s) => s.commands);
  assert.deepEqual(acting, []);
});
