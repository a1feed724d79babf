// When a recovery goes wrong, on a real lab with a real dev server and worker: fencing proves or
// asks (a silent listener, a hung old primary and the lab's fencing agent, a failing agent);
// permanent faults fail fast, typed, in the OS's own words (an immutable image, a full shared
// filesystem); a primary that dies after it started is PrimaryLost; an abort during a clone ends
// the run and the clone; commands never see the worker's environment; the RTO counts from the
// workflow's own start; a slot that reserves no WAL is a warning; a stream is found by its slot.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { withDb } from '../lib/db.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { Progress, RecoveryReport } from '../lib/model/report.js';
import { primaryOf, type ClusterSpec } from '../lib/model/spec.js';
import { createLab, destroyLab, labPaths, type Lab } from '../lab/lab.js';
import { postgresIn } from '../lab/system.js';
import { abortSignal, progressQuery } from '../workflows/definitions.js';
import { lineOf, logOffset, readCommandLog } from './helpers/command-log.js';
import { activityCalls, completes, fetchAll, HistoryWatcher } from './helpers/history.js';
import { noRecoveryRunning, sleep, toDisaster, within } from './helpers/recovery.js';
import { imageDigest } from './helpers/system.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';

const AGENT = fileURLToPath(new URL('../lab/fence-agent.sh', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'unhappy-'));
const commandLog = join(tmp, 'commands.jsonl');
/** Set in the worker's environment: it must never reach a command the worker starts. */
const SENTINEL = 'POLAR_TEST_WORKER_ONLY';
let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab | undefined;
const undo = new Set<() => unknown>();

before(async () => {
  process.env[SENTINEL] = 'the-worker-s-own-variable';
  env = await startTemporal();
  worker = await runWorker(env, { commandLog });
  lab = await createLab({ replicas: 1 });
});

after(async () => {
  for (const u of undo) await u();
  await worker?.stop();
  if (lab) await destroyLab(lab);
  await env?.teardown();
  rmSync(tmp, { recursive: true, force: true });
  delete process.env[SENTINEL];
});

const start = async (spec: ClusterSpec) => {
  await noRecoveryRunning(env.client, spec.cluster);
  const from = logOffset(commandLog);
  const t0 = Date.now();
  const { handle } = await startOrAttachRecovery(env.client, spec.cluster, { spec, trigger: 'test' });
  return { handle, from, t0 };
};

/** The workflow's failure: its type, the summary in its details, how long it took. */
async function failureOf(handle: WorkflowHandle, t0: number) {
  const err = (await handle.result().then(
    () => assert.fail('the recovery should have failed'),
    (e: unknown) => e,
  )) as { cause?: { message?: string; details?: Progress[] } };
  const progress = err.cause?.details?.[0];
  return { type: failureType(err), message: String(err.cause?.message), progress, ms: Date.now() - t0 };
}

const stepsRun = async (handle: WorkflowHandle) =>
  activityCalls(await fetchAll(env.client, handle.workflowId, (await handle.describe()).runId)).filter((c) => c.type !== 'notifyOperators');

test(
  'a silent listener on the old primary port: the recovery waits at the fence gate, never starts the primary',
  { timeout: 180_000 },
  async (t) => {
    await toDisaster(env.client, lab!);
    const primary = primaryOf(lab!.spec);
    const sockets = new Set<Socket>();
    // Accepts every connection and never says a word: what a hung host or a half-dead proxy does.
    const server: Server = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => server.listen(primary.port, primary.address, r));
    const close = () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r())));
    undo.add(close);
    try {
      const { handle, from, t0 } = await start(lab!.spec);
      let p = await handle.query(progressQuery);
      while (!p.waitingFor && Date.now() - t0 < 30_000) {
        await sleep(200);
        p = await handle.query(progressQuery);
      }
      const waitedMs = Date.now() - t0;
      t.diagnostic(`at the gate after ${waitedMs} ms: ${p.waitingFor?.evidence.join(' | ')}`);
      assert.equal(p.waitingFor?.gate, 'fence');
      assert.ok(waitedMs < 10_000, `waiting at the fence gate within 10 s (${waitedMs} ms)`);
      assert.match(p.waitingFor!.evidence.join('\n'), /did not answer in time/);
      await sleep(1000);
      const steps = (await stepsRun(handle)).map((c) => c.key);
      assert.deepEqual(steps, ['checkRunbooks', 'fence'], 'nothing after the fence ran');
      assert.deepEqual(readCommandLog(commandLog, from).map(lineOf), [], 'no command acted on a host');
      await handle.signal(abortSignal, { by: 'test', reason: 'silent listener' });
      const f = await failureOf(handle, t0);
      assert.equal(f.type, 'Aborted');
      assert.equal(f.progress?.outcome, 'aborted');
    } finally {
      await close();
      undo.delete(close);
    }
  },
);

test(
  'an immutable disk image: StorageReadOnly at preflight in seconds, in the OS words, the image untouched',
  { timeout: 120_000 },
  async (t) => {
    await toDisaster(env.client, lab!);
    const image = labPaths(lab!.id).image.shared;
    const digest = await imageDigest(image);
    await execa('chattr', ['+i', image]);
    const mutable = () => execa('chattr', ['-i', image]);
    undo.add(mutable);
    try {
      const { handle, t0 } = await start(lab!.spec);
      const f = await failureOf(handle, t0);
      t.diagnostic(`${f.type} after ${f.ms} ms: ${f.message}`);
      assert.equal(f.type, 'StorageReadOnly');
      assert.match(f.message, /Operation not permitted/);
      assert.ok(f.ms < 5000, `failed within 5 s (${f.ms} ms)`);
      assert.equal(f.progress?.failure?.step, 'preflight');
      assert.match(f.progress!.failure!.whatToDo, /read-only or immutable/);
      assert.ok(
        (await stepsRun(handle)).every((c) => c.attempt === 1),
        'no retry',
      );
    } finally {
      await mutable();
      undo.delete(mutable);
    }
    assert.equal(await imageDigest(image), digest, 'the image is unchanged');
  },
);

test(
  'the shared filesystem is full: StorageFull at the primary start in its first attempt, with the server log words',
  { timeout: 180_000 },
  async (t) => {
    await toDisaster(env.client, lab!);
    const p = labPaths(lab!.id);
    // Fill the filesystem inside the shared image (as a runaway log would), then give it back.
    const mnt = join(tmp, 'fill');
    await execa('mkdir', ['-p', mnt]);
    await execa('mount', ['-o', 'loop', p.image.shared, mnt]);
    const fill = join(p.mountPoint.shared, 'fill.bin');
    try {
      const avail = Number((await execa('df', ['-B1', '--output=avail', mnt])).stdout.split('\n')[1]);
      await execa('fallocate', ['-l', String(avail), join(mnt, 'fill.bin')]);
      await execa('dd', ['if=/dev/zero', `of=${join(mnt, 'fill.bin2')}`, 'bs=64k'], { reject: false });
    } finally {
      await execa('umount', [mnt]);
    }
    // The failed recovery leaves the disk mounted where the spec says: the fill goes from there.
    const unfill = async () => {
      await execa('rm', ['-f', fill, `${fill}2`]);
    };
    undo.add(unfill);
    try {
      const { handle, t0 } = await start(lab!.spec);
      const f = await failureOf(handle, t0);
      t.diagnostic(`${f.type} after ${f.ms} ms: ${f.message}`);
      assert.equal(f.type, 'StorageFull');
      assert.match(f.message, /No space left on device/);
      assert.equal(f.progress?.failure?.step, 'startNode:pb1');
      const failed = (await stepsRun(handle)).filter((c) => c.outcome === 'failed');
      assert.deepEqual(
        failed.map((c) => [c.key, c.attempt]),
        [['startNode:pb1', 1]],
        'failed in its first attempt',
      );
      const step = f.progress!.steps.find((s) => s.id === 'startNode:pb1')!;
      assert.ok(step.durationMs! < 5000, `startNode failed within 5 s (${step.durationMs} ms)`);
    } finally {
      await unfill();
      undo.delete(unfill);
    }
  },
);

test('the primary dies right after it started: PrimaryLost, typed, naming the step', { timeout: 180_000 }, async (t) => {
  await toDisaster(env.client, lab!);
  const { handle, t0 } = await start(lab!.spec);
  const watch = new HistoryWatcher(env.client, handle.workflowId, (await handle.describe()).runId);
  const dataDir = lab!.spec.storage.dataDir!;
  try {
    await watch.waitFor((e, all) => completes('startNode:pb1', e, all), 120_000, 'startNode:pb1');
    const pids = await postgresIn((cwd) => cwd === dataDir);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    t.diagnostic(`SIGKILLed the primary (${pids.length} processes)`);
  } finally {
    await watch.stop();
  }
  const f = await failureOf(handle, t0);
  t.diagnostic(`${f.type} after ${f.ms} ms at ${f.progress?.failure?.step}: ${f.message}`);
  assert.equal(f.type, 'PrimaryLost');
  assert.ok(f.progress?.failure?.step, 'the failing step is named');
  assert.match(f.message, /no longer serves/);
  assert.ok(f.ms < 60_000, `failed in well under the 12 retries of before (${f.ms} ms)`);
});

test('the lab fencing agent fences a hung old primary once, then the recovery goes on', { timeout: 240_000 }, async (t) => {
  await toDisaster(env.client, lab!);
  const spec = lab!.spec;
  // Bring the cluster back, then hang its primary (SIGSTOP): it holds its port and answers nothing.
  const { handle: back } = await start(spec);
  await within(back.result(), 180_000, 'recovering the lab');
  const dataDir = spec.storage.dataDir!;
  const hung = await postgresIn((cwd) => cwd === dataDir);
  for (const pid of hung) process.kill(pid, 'SIGSTOP');
  const cont = () => hung.forEach((pid) => process.kill(pid, 'SIGCONT') as unknown);
  undo.add(() => {
    try {
      cont();
    } catch {
      // already gone
    }
  });
  const withAgent: ClusterSpec = {
    ...spec,
    fencing: { ...spec.fencing, agent: { command: [AGENT, '{node}', '{dataDir}'], timeoutSeconds: 30 } },
  };
  const { handle, from } = await start(withAgent);
  const report = (await within(handle.result(), 180_000, 'the fenced recovery')) as RecoveryReport;
  const agentRuns = readCommandLog(commandLog, from).filter((e) => e.command.includes('fence-agent.sh'));
  t.diagnostic(`agent: ${agentRuns.map(lineOf).join(' | ')}; fence: ${report.steps[0]!.verified.join(' | ')}`);
  assert.deepEqual(
    agentRuns.map((e) => e.host),
    ['worker'],
    'the agent ran once, on the worker, for the one old node on the shared storage',
  );
  assert.match(
    report.steps.find((s) => s.id === 'fence')!.verified.join('\n'),
    /pb1: the fencing agent confirmed it is off \(fenced pb1: killed \d+ processes/,
  );
  assert.equal(report.outcome, 'recovered');
  assert.ok(hung.every(gone), 'the hung postmaster and its children are gone');
});

test('a failing fencing agent stops the recovery before anything is touched', { timeout: 120_000 }, async (t) => {
  await toDisaster(env.client, lab!);
  const spec: ClusterSpec = { ...lab!.spec, fencing: { ...lab!.spec.fencing, agent: { command: ['/bin/false'], timeoutSeconds: 10 } } };
  const { handle, t0 } = await start(spec);
  const f = await failureOf(handle, t0);
  t.diagnostic(`${f.type} after ${f.ms} ms: ${f.message}`);
  assert.equal(f.type, 'FenceFailed');
  assert.match(f.message, /fencing agent for pb1 exited 1/);
  assert.deepEqual(
    (await stepsRun(handle)).map((c) => `${c.key}:${c.outcome}`),
    ['checkRunbooks:completed', 'fence:failed'],
  );
});

test(
  'RTO from the workflow start; no worker variable in the postmaster; a slot without WAL warned; a stream found by its slot',
  { timeout: 300_000 },
  async (t) => {
    await toDisaster(env.client, lab!);
    const spec = lab!.spec;
    const standby = spec.nodes.find((n) => n.role === 'standby')!;
    // Before the disaster: an extra slot that reserves no WAL, and a standby that streams under the
    // name polar_basebackup -R gives it (walreceiver), not its slot's.
    const { handle: back } = await start(spec);
    await within(back.result(), 180_000, 'recovering the lab');
    await withDb(spec, primaryOf(spec), (db) => db.query(`select pg_create_physical_replication_slot('spare_slot', false)`));
    await withDb(spec, standby, (db) => db.query(`alter system set primary_conninfo = '${conninfoWithoutName(spec)}'`));
    await toDisaster(env.client, lab!);

    // The first workflow task waits 3 s for a worker: the RTO counts it.
    await worker.stop();
    const withSpare: ClusterSpec = { ...spec, slots: { ...spec.slots, expected: [...spec.slots.expected!, 'spare_slot'] } };
    const { handle } = await start(withSpare);
    await sleep(3000);
    worker = await runWorker(env, { commandLog });
    const report = (await within(handle.result(), 180_000, 'the recovery')) as RecoveryReport;
    const history = await fetchAll(env.client, handle.workflowId, (await handle.describe()).runId);
    const startedMs = Number(history[0]!.event.eventTime!.seconds) * 1000 + Math.floor((history[0]!.event.eventTime!.nanos ?? 0) / 1e6);
    t.diagnostic(`RTO ${report.rtoMs} ms; started ${report.startedAt}; warnings: ${report.warnings.join(' | ')}`);
    assert.equal(Date.parse(report.startedAt), startedMs, 'the RTO starts at the workflow start');
    assert.ok(report.rtoMs >= 3000, `the 3 s without a worker count (${report.rtoMs} ms)`);
    assert.match(report.headline, /^Recovery of cluster \S+: RECOVERED in/);
    assert.equal(Object.keys(report)[0], 'headline', 'the headline comes first');
    assert.match(report.warnings.join('\n'), /slot spare_slot reserves no WAL/);
    // The Web UI's story: activity summaries with node and role, Outcome on parent and child, ClusterName on the child.
    const summaries = history.flatMap((e) => {
      const summary = (e.event as { userMetadata?: { summary?: Payload } }).userMetadata?.summary;
      return summary ? [defaultPayloadConverter.fromPayload<string>(summary)] : [];
    });
    assert.ok(summaries.includes('startNode pb1 (primary)') && summaries.includes('fence'), summaries.join(', '));
    const child = await env.client.workflow.getHandle(`${handle.workflowId}/replica/pb2`).describe();
    assert.deepEqual([child.searchAttributes.ClusterName?.[0], child.searchAttributes.Outcome?.[0]], [spec.cluster, 'recovered']);
    assert.equal((await handle.describe()).searchAttributes.Outcome?.[0], 'recovered');
    assert.match(
      report.steps.find((s) => s.id === `waitStreaming:${standby.name}`)!.verified.join('\n'),
      new RegExp(`${standby.name} streams through slot standby1 as walreceiver`),
    );

    const postmaster = (await postgresIn((cwd) => cwd === spec.storage.dataDir))[0]!;
    const environ = readFileSync(`/proc/${postmaster}/environ`, 'utf8').split('\0').filter(Boolean);
    const names = environ.map((v) => v.split('=')[0]!);
    t.diagnostic(`postmaster environment: ${names.join(' ')}`);
    assert.ok(!names.includes(SENTINEL), 'the worker variable did not reach the postmaster');
    const allowed = [
      'PATH',
      'LC_ALL',
      'POLAR_RUNBOOK_RUN',
      'PWD',
      'HOME',
      'SHELL',
      'USER',
      'LOGNAME',
      'PGDATA',
      'PG_GRANDPARENT_PID',
      'PGLOCALEDIR',
      'PGSYSCONFDIR',
    ];
    assert.deepEqual(
      names.filter((n) => !allowed.includes(n)),
      [],
      'only the explicit set (and what runuser and pg_ctl add)',
    );
    // Put things back as the lab had them.
    await withDb(spec, primaryOf(spec), (db) => db.query(`select pg_drop_replication_slot('spare_slot')`));
    await withDb(spec, standby, (db) => db.query('alter system reset primary_conninfo'));
  },
);

/** The standby's conninfo without application_name, as polar_basebackup -R writes it. */
function conninfoWithoutName(spec: ClusterSpec): string {
  const p = primaryOf(spec);
  return `host=${p.address} port=${p.port} user=${spec.replication.user}`;
}

test(
  'abort during a 256 MB clone: Aborted within 3 s, the clone ended, the report says what was interrupted',
  { timeout: 600_000 },
  async (t) => {
    const big = await createLab({ replicas: 1, dataMb: 256 });
    undo.add(() => destroyLab(big));
    try {
      await toDisaster(env.client, big);
      const { handle, t0 } = await start(big.spec);
      const target = big.spec.nodes.find((n) => n.role === 'replica')!;
      // Wait until the clone into the replica's dir runs.
      let clones: number[] = [];
      for (let i = 0; i < 1200 && !clones.length; i++) {
        clones = clonesInto(target.localDir);
        if (!clones.length) await sleep(100);
      }
      assert.ok(clones.length, 'the clone ran');
      const abortAt = Date.now();
      await handle.signal(abortSignal, { by: 'test', reason: 'stop the clone' });
      const f = await failureOf(handle, t0);
      const ms = Date.now() - abortAt;
      t.diagnostic(`${f.type} ${ms} ms after the abort: ${f.message}`);
      assert.equal(f.type, 'Aborted');
      assert.ok(ms < 3000, `ended within 3 s of the abort (${ms} ms)`);
      assert.match(f.message, /while .*buildNode:pb2.* ran \(interrupted\)/);
      assert.deepEqual(
        f.progress?.failure?.interrupted.filter((s) => s.startsWith('buildNode')),
        ['buildNode:pb2'],
      );
      const deadline = Date.now() + 5000;
      while (clonesInto(target.localDir).length && Date.now() < deadline) await sleep(100);
      assert.deepEqual(clonesInto(target.localDir), [], 'no pg_basebackup runs');
    } finally {
      await destroyLab(big);
    }
  },
);

/** pg_basebackup processes writing below `dir`. */
function clonesInto(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv[0]!.endsWith('pg_basebackup') && argv.some((a) => a.startsWith(dir))) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Gone, or a zombie waiting to be reaped. */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}
