// Transient faults, injected for real from the outside at the right moment, end in a successful
// recovery, with the retries in the report (attempts > 1 on the step that met the fault):
//   - the mount fails once: another process holds the freshly bound loop device exclusively
//     (O_EXCL, as blkid, fsck or a backup agent would), released after the first failed attempt;
//   - PostgreSQL fails to start once: a stale socket lock whose PID is alive and belongs to the
//     postgres user (PID reuse after a host reboot), gone after the first failed attempt;
//   - the primary refuses connections for a few seconds (it is stopped, then started again) just
//     as verifyData connects;
//   - the /dev link disappears between attachStorage and startStorageDaemon (a host reboot):
//     startStorageDaemon puts it back.
// Each fault acts only on the test's own lab (its loop device, its local dirs, its PostgreSQL). To
// hit the moment exactly, the worker (a separate process) is paused with SIGSTOP the instant the
// command log or the history shows the step before, the fault is put in place, and the worker
// goes on: nothing of the runbook is mocked, and there is no test hook in it.
import assert from 'node:assert/strict';
import { rootFailure } from '../lib/model/failures.js';
import {
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { renderReport, type RecoveryReport, type StepRecord } from '../lib/model/report.js';
import { primaryOf, type NodeSpec } from '../lib/model/spec.js';
import { createLab, destroyLab, labPaths, type Lab } from '../lab/lab.js';
import { startDevServer, type DevServer } from '../scripts/dev-server.js';
import { lineOf, logOffset, readCommandLog, waitForCommand } from './helpers/command-log.js';
import { activityCalls, completes, HistoryWatcher, pendingActivities, type PendingActivity, type SourcedEvent } from './helpers/history.js';
import { recordedFingerprint, sameData, sleep, toDisaster, within } from './helpers/recovery.js';
import { linkTargetOf, loopsOf, mountsAt } from './helpers/system.js';
import { spawnWorker, stopAllWorkers, type WorkerProcess } from './helpers/worker-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'transient-faults-'));
const commandLog = join(tmp, 'commands.jsonl');

let dev: DevServer | undefined;
let client: Client;
let lab: Lab | undefined;
let worker: WorkerProcess;
/** Faults still in place when a test fails halfway: undone in after(). */
const undo = new Set<() => void>();

before(async () => {
  dev = await startDevServer();
  client = new Client({ connection: await Connection.connect({ address: dev.address }) });
  worker = spawnWorker({ address: dev.address, commandLog, outputFile: join(tmp, 'worker.log') });
  lab = await createLab({ replicas: 1 });
  await worker.ready;
});

after(async () => {
  for (const u of undo) u();
  await stopAllWorkers();
  if (lab) await destroyLab(lab);
  await client?.connection.close();
  await dev?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const pg = (bin: string) => `/usr/lib/postgresql/15/bin/${bin}`;

interface Run {
  handle: WorkflowHandle;
  watch: HistoryWatcher;
  from: number;
}

/** Disaster, then a recovery with `inject` acting alongside; checks what every recovery must show. */
async function recoverWith(
  t: TestContext,
  inject: (r: Run) => Promise<void>,
): Promise<{ report: RecoveryReport; step(id: string): StepRecord; from: number }> {
  assert.ok(lab, 'the lab');
  const { spec } = lab;
  await toDisaster(client, lab);
  const recorded = recordedFingerprint(spec);
  const from = logOffset(commandLog);
  const { handle, started } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'test' });
  assert.ok(started);
  const watch = new HistoryWatcher(client, handle.workflowId, (await handle.describe()).runId);
  try {
    await within(inject({ handle, watch, from }), 120_000, 'the fault');
    const report = await within(
      (handle.result() as Promise<RecoveryReport>).catch((err: unknown) => {
        const root = rootFailure(err);
        throw new Error(`the recovery failed: ${root.type}: ${root.message}`);
      }),
      180_000,
      'the recovery',
    );
    for (const line of renderReport(report).split('\n')) if (!line.startsWith('  verified')) t.diagnostic(line);
    assert.equal(report.outcome, 'recovered');
    assert.deepEqual(
      report.steps.filter((s) => s.state !== 'done').map((s) => s.id),
      [],
    );
    const step = (id: string) => {
      const s = report.steps.find((x) => x.id === id);
      assert.ok(s, `step ${id} in the report`);
      return s;
    };
    assert.ok(
      step('verifyData').verified.some((v) => /^fingerprint of \d+ tables matches/.test(v)),
      'the workflow compared the data with the fingerprint',
    );
    await sameData(spec, recorded);
    // The report's attempts are the history's.
    const calls = activityCalls(watch.events);
    for (const s of report.steps) assert.equal(s.attempts, calls.find((c) => c.key === s.id)?.attempt, `${s.id}: attempts`);
    return { report, step, from };
  } finally {
    worker.resume();
    await watch.stop();
  }
}

/** Waits until an attempt of the activity has failed (the next one pending); returns it. */
async function failedAttempt(workflowId: string, type: string, what = type): Promise<PendingActivity> {
  for (const deadline = Date.now() + 120_000; ;) {
    const p = (await pendingActivities(client, workflowId)).find((x) => x.type === type && x.lastFailure);
    if (p) return p;
    assert.ok(Date.now() < deadline, `an attempt of ${what} failed`);
    await sleep(25);
  }
}

/**
 * Pauses the worker right after it logged a command, until the command's effect is there. The line
 * is written just before the command starts: if the worker stopped in between, it goes on in 1 ms
 * slices until the command has started and done its work (far less than the dozens of ms to the
 * next step's commands, which each test checks were not reached).
 */
async function pauseUntil(effect: () => boolean, what: string): Promise<void> {
  worker.pause();
  for (const deadline = Date.now() + 30_000; !effect();) {
    assert.ok(Date.now() < deadline, what);
    worker.resume();
    await sleep(1);
    worker.pause();
    await sleep(10);
  }
}

/** Pauses the worker synchronously when an event satisfies `pred`; resolves once it did. */
async function pauseWhen(watch: HistoryWatcher, pred: (e: SourcedEvent, all: SourcedEvent[]) => boolean, what: string): Promise<void> {
  let paused = false;
  const off = watch.on((e) => {
    if (paused || !e || !pred(e, watch.events)) return;
    worker.pause();
    paused = true;
  });
  try {
    await watch.waitFor(() => paused, 90_000, what);
  } finally {
    off();
  }
}

const runPg = (n: NodeSpec, args: string[]) =>
  execa('runuser', ['-u', n.osUser, '--', pg('pg_ctl'), ...args, '-D', n.localDir], { stdin: 'ignore', timeout: 120_000 });

test('the mount fails once (the disk is held exclusively by another process): retried, recovered', { timeout: 240_000 }, async (t) => {
  const image = labPaths(lab!.id).image.shared;
  const mnt = lab!.spec.storage.mountPoint!;
  let fd: number | undefined;
  const release = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  undo.add(release);
  const { step, from } = await recoverWith(t, async ({ handle, from }) => {
    const bind = await waitForCommand(
      commandLog,
      from,
      (e) => e.host === 'pb1' && /losetup --direct-io=on \S+ \S+\/shared\.img$/.test(e.command),
      90_000,
      'the bind',
    );
    const device = /losetup --direct-io=on (\/dev\/loop\d+) /.exec(bind.command)![1]!;
    const bound = () => {
      try {
        return readFileSync(`/sys/block/${device.slice('/dev/'.length)}/loop/backing_file`, 'utf8').trim() === image;
      } catch {
        return false;
      }
    };
    try {
      await pauseUntil(bound, `${device} got bound to ${image}`);
      assert.deepEqual(await loopsOf(image), [device]);
      const early = readCommandLog(commandLog, from).filter((e) => e.host === 'pb1' && /\$ mount /.test(e.command));
      assert.deepEqual(early.map(lineOf), [], 'paused before the mount');
      fd = openSync(device, constants.O_RDONLY | constants.O_EXCL);
      t.diagnostic(`holding ${device} exclusively (O_EXCL)`);
    } finally {
      worker.resume();
    }
    const failed = await failedAttempt(handle.workflowId, 'startStorageDaemon');
    release();
    t.diagnostic(`attempt ${failed.attempt - 1} failed: ${failed.lastFailure}; device released`);
    assert.match(failed.lastFailure!, /mount .* failed .*(busy|already mounted)/is);
  });
  const s = step('startStorageDaemon:pb1');
  assert.ok(s.attempts! >= 2, `startStorageDaemon:pb1 retried (attempts ${s.attempts})`);
  const mounts = readCommandLog(commandLog, from).filter((e) => e.host === 'pb1' && /\$ mount /.test(e.command));
  assert.equal(mounts.length, s.attempts, 'each attempt issued the mount once');
  assert.equal(mountsAt(mnt), 1, 'mounted once');
  undo.delete(release);
});

test('PostgreSQL fails to start once (a stale socket lock held by a live PID): retried, recovered', { timeout: 240_000 }, async (t) => {
  const primary = primaryOf(lab!.spec);
  const lock = `${primary.localDir}/.s.PGSQL.${primary.port}.lock`;
  const ids = (await execa('id', [primary.osUser])).stdout;
  const uid = Number(/uid=(\d+)/.exec(ids)![1]);
  const gid = Number(/gid=(\d+)/.exec(ids)![1]);
  let holder: ResultPromise | undefined;
  const free = () => {
    holder?.kill('SIGKILL');
    holder = undefined;
  };
  undo.add(free);
  const { step } = await recoverWith(t, async ({ handle, from }) => {
    await waitForCommand(
      commandLog,
      from,
      (e) => e.host === 'pb1' && /\$ mkdir -m 0700 /.test(e.command),
      90_000,
      "the primary's local dir",
    );
    try {
      await pauseUntil(() => existsSync(primary.localDir), 'the local dir was made');
      const early = readCommandLog(commandLog, from).filter((e) => /\/pg_ctl .* start$/.test(e.command));
      assert.deepEqual(early.map(lineOf), [], 'paused before any pg_ctl start');
      // A process of the postgres user that happens to have the PID the lock names.
      holder = execa('sleep', ['600'], { uid, gid, stdin: 'ignore', reject: false });
      writeFileSync(lock, `${holder.pid}\n${lab!.spec.storage.dataDir}\n`, { mode: 0o600 });
      chownSync(lock, uid, gid);
      t.diagnostic(`${lock} names PID ${holder.pid} (alive, user ${primary.osUser})`);
    } finally {
      worker.resume();
    }
    const failed = await failedAttempt(handle.workflowId, 'startNode');
    const gone = holder;
    free();
    await gone; // reaped: a zombie's PID would still look alive to PostgreSQL
    t.diagnostic(`attempt ${failed.attempt - 1} failed: ${failed.lastFailure?.split('\n')[0]}; the process the lock named is gone now`);
    assert.match(failed.lastFailure!, /pg_ctl .* start failed/);
  });
  const s = step('startNode:pb1');
  assert.ok(s.attempts! >= 2, `startNode:pb1 retried (attempts ${s.attempts})`);
  const log = (await execa('cat', [`${primary.localDir}/postgresql.log`])).stdout;
  assert.match(log, /lock file ".*\.lock" already exists/, "the first start met the lock (PostgreSQL's own log)");
  assert.equal((log.match(/database system is ready to accept connections/g) ?? []).length, 1, 'PostgreSQL came up once');
  undo.delete(free);
});

test('the primary refuses connections for a few seconds as verifyData connects: retried, recovered', { timeout: 240_000 }, async (t) => {
  const primary = primaryOf(lab!.spec);
  let down = false;
  const restart = () => {
    if (down) void runPg(primary, ['-w', '-t', '60', '-l', `${primary.localDir}/postgresql.log`, 'start']).catch(() => {});
    down = false;
  };
  undo.add(restart);
  const { step } = await recoverWith(t, async ({ handle, watch }) => {
    // The instant the standby and the replica are done, verifyData is next.
    const bothDone = (all: SourcedEvent[]) =>
      all.some((x) => x.event.childWorkflowExecutionCompletedEventAttributes) &&
      activityCalls(all).some((c) => c.key === 'waitStreaming:pb3' && c.outcome === 'completed');
    await pauseWhen(watch, (_e, all) => bothDone(all), 'the standby and the replica to be done');
    try {
      assert.ok(!activityCalls(watch.events).some((c) => c.key === 'verifyData' && c.outcome), 'paused before verifyData ended');
      await runPg(primary, ['stop', '-m', 'fast', '-w']);
      down = true;
      t.diagnostic(`primary stopped: ${primary.address}:${primary.port} refuses connections`);
    } finally {
      worker.resume();
    }
    const failed = await failedAttempt(handle.workflowId, 'verifyData');
    assert.match(failed.lastFailure!, /ECONNREFUSED|terminat/);
    t.diagnostic(`attempt ${failed.attempt - 1} failed: ${failed.lastFailure}`);
    await sleep(3000); // a few seconds more of refused connections: the retries keep failing
    await runPg(primary, ['-w', '-t', '60', '-l', `${primary.localDir}/postgresql.log`, 'start']);
    down = false;
    t.diagnostic('primary started again');
  });
  const s = step('verifyData');
  assert.ok(s.attempts! >= 3, `verifyData retried through the outage (attempts ${s.attempts})`);
  undo.delete(restart);
});

test('the /dev link is gone between attachStorage and startStorageDaemon: put back, recovered', { timeout: 240_000 }, async (t) => {
  const { link } = labPaths(lab!.id);
  let target: string | undefined;
  const { step, from } = await recoverWith(t, async ({ watch, from }) => {
    await pauseWhen(watch, (e, all) => completes('attachStorage:pb1', e, all), 'attachStorage:pb1 to complete');
    try {
      const early = readCommandLog(commandLog, from).filter((e) => e.host === 'pb1' && /\$ mount /.test(e.command));
      assert.deepEqual(early.map(lineOf), [], 'paused before the mount');
      target = linkTargetOf(link.shared);
      assert.match(target ?? '', /^\/dev\/loop\d+$/, `${link.shared} points to the loop device`);
      unlinkSync(link.shared); // the lab's own link: a reboot loses it
      t.diagnostic(`removed ${link.shared} (-> ${target})`);
    } finally {
      worker.resume();
    }
  });
  const s = step('startStorageDaemon:pb1');
  const relink = `pb1: root$ ln -s ${target} ${link.shared}`;
  assert.ok(s.commands.includes(relink), `startStorageDaemon put the link back: ${s.commands.join('; ')}`);
  assert.ok(s.changed);
  t.diagnostic(`startStorageDaemon:pb1 attempts ${s.attempts}: ${s.commands.join('; ')}`);
  assert.equal(linkTargetOf(link.shared), target);
  assert.equal(readCommandLog(commandLog, from).filter((e) => lineOf(e) === relink).length, 2, 'linked by attachStorage, then again once');
  assert.equal(mountsAt(lab!.spec.storage.mountPoint!), 1);
});
