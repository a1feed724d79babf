// The second disaster, end to end on a real lab and a real Temporal dev server. While the old
// primary still runs, failoverToStandby stops at its fence gate and promotes nothing. Then the
// standby is made to lag (its replay paused, rows written on the primary), the shared storage is
// lost (`disaster --storage-lost`), and the failover waits at its lag gate with the figures; once
// approved it promotes the standby, rebuilds the read-only node on the standby's disk, verifies,
// reports the RPO and writes the new topology's spec.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import YAML from 'yaml';
import { fingerprint, whoAnswers, withDb, type Fingerprint } from '../lib/db.js';
import { startOrAttachFailover } from '../client/start-failover.js';
import { failoverStandby } from '../lib/model/failover.js';
import { renderReport, type FailoverReport, type Progress } from '../lib/model/report.js';
import { parseSpec, type ClusterSpec } from '../lib/model/spec.js';
import { createLab, destroyLab, disaster, labPaths, lostImage, type Lab } from '../lab/lab.js';
import { abortSignal, approveSignal, progressQuery } from '../workflows/definitions.js';
import { sleep, within } from './helpers/recovery.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';

const tmp = mkdtempSync(join(tmpdir(), 'failover-'));
let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab | undefined;

before(async () => {
  process.env.POLAR_FAILOVER_DIR = tmp;
  env = await startTemporal();
  worker = await runWorker(env);
  lab = await createLab({ replicas: 1 });
});
after(async () => {
  await worker?.stop();
  if (lab) await destroyLab(lab);
  await env?.teardown();
  rmSync(tmp, { recursive: true, force: true });
});

async function waitAtGate(handle: WorkflowHandle, gate: string): Promise<Progress> {
  for (let i = 0; ; i++) {
    const p = await handle.query(progressQuery);
    if (p.waitingFor?.gate === gate) return p;
    if (p.outcome) assert.fail(`the failover ended (${p.outcome}: ${p.failure?.cause}) instead of waiting at ${gate}`);
    assert.ok(i < 600, `no ${gate} gate within 60 s (phase ${p.phase})`);
    await sleep(100);
  }
}

const inRecovery = async (spec: ClusterSpec, name: string): Promise<boolean | undefined> => {
  const p = await whoAnswers(
    spec,
    spec.nodes.find((n) => n.name === name)!,
  );
  return p.state === 'ours' ? p.inRecovery : undefined;
};

test('an old primary that may still run stops the failover before any promote', { timeout: 120_000 }, async (t) => {
  const spec = lab!.spec;
  const { handle, started } = await startOrAttachFailover(env.client, spec.cluster, { spec, trigger: 'test' });
  assert.ok(started);
  const p = await waitAtGate(handle, 'fence');
  for (const e of p.waitingFor!.evidence) t.diagnostic(e);
  assert.match(p.waitingFor!.evidence.join('\n'), /pb1: still answers on 127\.0\.0\.1:\d+ as this cluster's READ-WRITE PRIMARY/);
  assert.match(p.waitingFor!.evidence.join('\n'), /pb1: .*still attached to \/dev\/loop\d+|pb1: .* is still mounted/);
  assert.deepEqual(
    p.steps.map((s) => s.id),
    ['checkRunbooks', 'fence'],
    'nothing after the fence ran',
  );
  await sleep(1000);
  assert.equal(await inRecovery(spec, 'pb3'), true, 'the standby was not promoted');
  await handle.signal(abortSignal, { by: 'test', reason: 'the old primary runs' });
  assert.equal(failureType(await handle.result().catch((e: unknown) => e)), 'Aborted');
  assert.equal(await inRecovery(spec, 'pb3'), true, 'still not promoted after the abort');
});

test(
  'storage lost: a lagging standby waits at the gate with its figures; approved, the failover completes',
  { timeout: 300_000 },
  async (t) => {
    const spec = lab!.spec;
    const standby = failoverStandby(spec);
    const primary = spec.nodes.find((n) => n.role === 'primary')!;
    // The standby receives but does not replay: WAL it has and has not applied is its lag.
    await withDb(spec, standby, (db) => db.query('select pg_wal_replay_pause()'));
    await withDb(spec, primary, (db) => db.query('insert into t1 select g from generate_series(100000, 100999) g'));
    for (let i = 0; ; i++) {
      const r = await withDb(
        spec,
        standby,
        async (db) =>
          (await db.query<{ behind: boolean }>('select pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() as behind')).rows[0]!.behind,
      );
      if (r) break;
      assert.ok(i < 200, 'the standby never received the rows');
      await sleep(50);
    }
    const recorded = await disaster(lab!, (l) => t.diagnostic(l), { storageLost: true });
    const p = labPaths(lab!.id);
    assert.ok(!existsSync(p.image.shared) && existsSync(lostImage(p.image.shared)), 'the shared image is gone from its path');
    assert.equal(await inRecovery(spec, 'pb3'), true, 'the standby survives the disaster');

    const input = { ...spec, failover: { ...spec.failover!, maxLagBytes: 0 } };
    const started = Date.now();
    const { handle } = await startOrAttachFailover(env.client, spec.cluster, { spec: input, trigger: 'test' });
    const gate = await waitAtGate(handle, 'lag');
    for (const e of gate.waitingFor!.evidence) t.diagnostic(e);
    assert.match(gate.waitingFor!.evidence[0]!, /the standby pb3 is behind: [1-9]\d* bytes \(limit 0\), \d+ s \(limit 60\)/);
    assert.match(
      gate.waitingFor!.evidence[1]!,
      /received [0-9A-F]+\/[0-9A-F]+, replayed [0-9A-F]+\/[0-9A-F]+, last replayed transaction at /,
    );
    assert.ok(!gate.steps.some((s) => s.step === 'promote'), 'no promote before the approval');
    assert.equal(await inRecovery(spec, 'pb3'), true);

    await handle.signal(approveSignal, { by: 'test' });
    const report = (await within(handle.result(), 240_000, 'the failover')) as FailoverReport;
    for (const line of renderReport(report).split('\n')) t.diagnostic(line);
    t.diagnostic(`failover wall time ${((Date.now() - started) / 1000).toFixed(1)} s, RTO ${(report.rtoMs / 1000).toFixed(1)} s`);
    assert.equal(report.outcome, 'failed-over');
    assert.equal(report.promoted, 'pb3');
    assert.equal(report.timeline, 2);
    assert.match(report.rpo, /^RPO: [1-9]\d* bytes received but not replayed/);
    assert.ok(report.position.lagBytes > 0);
    assert.deepEqual(
      report.steps.filter((s) => s.state !== 'done'),
      [],
    );

    // The cluster as it now is: its spec, written for the operator, is valid and names pb3 the primary.
    const after = parseSpec(YAML.parse(readFileSync(report.specAfterFile, 'utf8')));
    assert.deepEqual(
      after.nodes.map((n) => [n.name, n.role]),
      [
        ['pb3', 'primary'],
        ['pb2', 'replica'],
      ],
    );
    assert.equal(after.storage.image, p.image.standby);
    const newPrimary = after.nodes[0]!;
    const ro = after.nodes[1]!;

    await withDb(after, newPrimary, async (db) => {
      // Every row committed before the disaster is there: the standby had received them all.
      const before: Fingerprint = recorded.tables;
      assert.deepEqual(await fingerprint(db, Object.keys(before)), before);
      const streaming = (
        await db.query(
          'select s.slot_name, r.state from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid order by 1',
        )
      ).rows;
      assert.deepEqual(streaming, [{ slot_name: 'replica1', state: 'streaming' }]);
      await db.query('insert into t1 values (424242)'); // writable
    });
    for (let i = 0; ; i++) {
      const n = await withDb(after, ro, async (db) => (await db.query('select count(*)::int as n from t1 where id = 424242')).rows[0].n);
      if (n === 1) break;
      assert.ok(i < 200, 'the new row never showed on the rebuilt read-only node');
      await sleep(50);
    }
    assert.equal(await inRecovery(after, 'pb2'), true, 'the rebuilt pb2 is read-only');

    // A second run finds the standby promoted: no second promote, nothing rebuilt again.
    const again = await startOrAttachFailover(env.client, spec.cluster, { spec, trigger: 'test' });
    const second = (await within(again.handle.result(), 120_000, 'the second failover')) as FailoverReport;
    assert.equal(second.outcome, 'already-failed-over');
    assert.deepEqual(second.steps.find((s) => s.step === 'promote')?.commands, []);
  },
);
