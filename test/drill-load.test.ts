// Drills under write load, on a real lab and a real Temporal dev server: pgbench writes on the
// production primary all along. Three drills (fsfreeze) pass with the drill marker, amcheck and
// the pgbench invariants holding in each sandbox; a deliberately torn copy (a snapshot command that
// copies the live image in chunks, with pauses, without freezing anything) must fail its drill,
// naming what broke.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa, type ResultPromise } from 'execa';
import { withDb } from '../lib/db.js';
import { drillOutcome, startDrill } from '../client/start-drill.js';
import { renderDrillResult } from '../lib/model/drill.js';
import type { RecoveryReport } from '../lib/model/report.js';
import { primaryOf, type ClusterSpecInput } from '../lib/model/spec.js';
import { createLab, destroyLab, type Lab } from '../lab/lab.js';
import { removeSandboxLeftovers, sandboxLeftovers } from './helpers/drill.js';
import { startTemporal } from './helpers/temporal.js';
import { runWorker, type RunningWorker } from './helpers/worker.js';

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const PGBENCH_TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'];
/** Every committed pgbench transaction adds the same delta to one account, teller and branch and logs it. */
const INVARIANTS = [
  {
    name: 'pgbench sums',
    sql: `select a = b and b = t and t = h as ok, a as accounts, b as branches, t as tellers, h as history
            from (select (select sum(abalance) from pgbench_accounts) a, (select sum(bbalance) from pgbench_branches) b,
                         (select sum(tbalance) from pgbench_tellers) t, (select coalesce(sum(delta), 0) from pgbench_history) h) s`,
  },
  { name: 'pgbench accounts', sql: `select count(*) = 100000 as ok, count(*) as accounts from pgbench_accounts` },
];

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab;
let tmp: string;
let bench: ResultPromise | undefined;

const pgEnv = () => ({ PGPASSWORD: readFileSync(lab.spec.connection.passwordFile!, 'utf8').trim() });
const pgArgs = () => {
  const p = primaryOf(lab.spec);
  return ['-h', p.address, '-p', String(p.port), '-U', lab.spec.connection.user];
};

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'polar-drill-load-'));
  chmodSync(tmp, 0o755);
  env = await startTemporal();
  worker = await runWorker(env, { drillHistory: join(tmp, 'drill-history.jsonl') });
  lab = await createLab({ replicas: 1 });
  await execa(PGBENCH, [...pgArgs(), '-i', '-s', '1', '-q', lab.spec.connection.database], { env: pgEnv() });
  // Two clients, as fast as they go, for as long as the test runs (stopped in after()).
  bench = execa(PGBENCH, [...pgArgs(), '-n', '-c', '2', '-T', '900', lab.spec.connection.database], { env: pgEnv(), reject: false });
});

after(async () => {
  if (bench?.pid) {
    bench.kill('SIGINT');
    await bench;
  }
  await worker?.stop();
  if (lab) {
    await removeSandboxLeftovers(lab.id);
    await destroyLab(lab);
  }
  await env?.teardown();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const withChecks = (extra: Partial<ClusterSpecInput> = {}): ClusterSpecInput => ({
  ...(lab.spec as ClusterSpecInput),
  verify: { ...lab.spec.verify, tables: [...lab.spec.verify.tables, ...PGBENCH_TABLES], invariants: INVARIANTS },
  ...extra,
});

const committed = async () =>
  withDb(lab.spec, primaryOf(lab.spec), async (db) => Number((await db.query('select count(*) as n from pgbench_history')).rows[0].n));

test('three drills under pgbench load pass, with the marker, amcheck and the invariants holding in each sandbox', async (t) => {
  const spec = withChecks();
  for (let i = 1; i <= 3; i++) {
    const before = await committed();
    const { result, error } = await drillOutcome(await startDrill(env.client, lab.id, { spec, trigger: 'test' }));
    for (const line of result ? renderDrillResult(result).split('\n') : [String(error)]) t.diagnostic(line);
    assert.equal(error, undefined, `drill ${i}`);
    assert.equal(result!.outcome, 'recovered');
    assert.equal(result!.copyMethod, 'fsfreeze');
    const after = await committed();
    t.diagnostic(`drill ${i}: pgbench committed ${after - before} transactions during it`);
    const copies = result!.steps.find((s) => s.name === 'snapshotStorage')!.details!.copies as { disk: string; frozenMs?: number }[];
    t.diagnostic(`drill ${i}: production frozen for ${copies[0]?.frozenMs} ms (${copies.map((c) => c.disk).join(', ')})`);
    assert.ok(after > before, 'pgbench kept writing during the drill');

    const report = (await env.client.workflow.getHandle(result!.recovery!.workflowId).result()) as RecoveryReport;
    const verify = report.steps.find((s) => s.id === 'verifyData')!;
    for (const v of verify.verified) t.diagnostic(`  verified ${v}`);
    const verified = verify.verified.join('\n');
    assert.match(verified, /drill marker drill:\S+ is in the copy \(flushed on production at [0-9A-F]+\/[0-9A-F]+/);
    assert.match(verified, /amcheck clean: .*pgbench_accounts \(heap, pgbench_accounts_pkey\)/);
    assert.match(verified, /invariant "pgbench sums" holds \(ok=true, accounts=-?\d+/);
    assert.match(verified, /invariant "pgbench accounts" holds \(ok=true, accounts=100000\)/);
  }
  assert.deepEqual(await sandboxLeftovers(lab.id), { dirs: [], processes: [], mounts: [], loops: [], links: [] });
});

test('a torn copy (a live image copied in chunks while pgbench writes) fails its drill, naming the broken check', async (t) => {
  // Copies the image 8 MiB at a time with a pause after each chunk: nothing is frozen, pgbench
  // and checkpoints write all along, so the copy mixes blocks from many moments.
  const script = join(tmp, 'torn-copy.sh');
  writeFileSync(
    script,
    `#!/bin/sh
set -e
size=$(stat -c %s "$1")
chunks=$(( (size + 8388607) / 8388608 ))
: > "$2"
i=0
while [ $i -lt $chunks ]; do
  dd if="$1" of="$2" bs=8M skip=$i seek=$i count=1 conv=sparse,notrunc status=none
  i=$((i + 1))
  sleep 0.02
done
truncate -s "$size" "$2"
`,
  );
  chmodSync(script, 0o755);
  // Checkpoints while the copy runs: data pages, pg_control and WAL move on at different places of the image.
  let stop = false;
  const checkpoints = (async () => {
    while (!stop) {
      await withDb(lab.spec, primaryOf(lab.spec), (db) => db.query('checkpoint')).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  try {
    const spec = withChecks({ drill: { snapshotCommand: [script, '{image}', '{target}'], maxFreezeSeconds: 300 } });
    const { result, error } = await drillOutcome(await startDrill(env.client, lab.id, { spec, trigger: 'test' }));
    for (const line of result ? renderDrillResult(result).split('\n') : [String(error)]) t.diagnostic(line);
    assert.equal(result?.outcome, 'failed', 'a torn copy must never pass');
    assert.equal(result?.copyMethod, 'snapshot-command');
    t.diagnostic(`failed as ${result?.errorType}: ${result?.error}`);
    // Seen here: the torn copy does not even start (crash recovery gives up on it); a tear that
    // crash recovery does not notice is caught by amcheck or the invariants instead.
    assert.match(result?.error ?? '', /drill marker|amcheck|invariant|could not start server/, 'the failure says what broke');
    assert.notEqual(result?.errorType, 'SnapshotFailed', 'the copy itself was taken; the checks caught it');
  } finally {
    stop = true;
    await checkpoints;
  }
  assert.deepEqual(await sandboxLeftovers(lab.id), { dirs: [], processes: [], mounts: [], loops: [], links: [] });
});

test('a stale copy (a snapshot command that returns a copy from before the drill) fails on the drill marker', async (t) => {
  // A consistent copy of both disks, taken under fsfreeze before the drill: what a snapshot
  // command that hands back an old snapshot gives.
  const p = lab.spec;
  const mounts = [p.nodes.find((n) => n.role === 'standby')!.storage!.mountPoint!, p.storage.mountPoint!];
  const disks = [p.storage, p.nodes.find((n) => n.role === 'standby')!.storage!];
  for (const m of mounts) await execa('fsfreeze', ['-f', m]);
  try {
    for (const d of disks) await execa('cp', ['--sparse=always', d.image!, join(tmp, `stale-${d.diskName}.img`)]);
  } finally {
    for (const m of mounts) await execa('fsfreeze', ['-u', m]);
  }
  await new Promise((r) => setTimeout(r, 1000)); // pgbench writes on
  const script = join(tmp, 'stale-copy.sh');
  writeFileSync(script, `#!/bin/sh\nexec cp --sparse=always "${tmp}/stale-$1.img" "$2"\n`);
  chmodSync(script, 0o755);
  const spec = withChecks({ drill: { snapshotCommand: [script, '{disk}', '{target}'], maxFreezeSeconds: 300 } });
  const { result, error } = await drillOutcome(await startDrill(env.client, lab.id, { spec, trigger: 'test' }));
  for (const line of result ? renderDrillResult(result).split('\n') : [String(error)]) t.diagnostic(line);
  assert.equal(result?.outcome, 'failed');
  assert.equal(result?.errorType, 'CopyInconsistent');
  assert.match(
    result?.error ?? '',
    /drill marker: the row drill:\S+ written on production before the copy \(flushed at [0-9A-F]+\/[0-9A-F]+\) is not in the copy/,
  );
  assert.deepEqual(await sandboxLeftovers(lab.id), { dirs: [], processes: [], mounts: [], loops: [], links: [] });
});
