// Interrupted recoveries resume exactly where they stopped, proven by killing the worker.
//
// The worker runs as its own process (`node --import tsx workers/worker.ts`, as in production)
// against a Temporal dev server; the test watches the recovery's history live and SIGKILLs the
// worker (a crash: no shutdown, no goodbye to the server) at a chosen moment, starts a new worker
// process, and then proves, from three independent sources:
//   - the Temporal history: every activity was scheduled once; the one(s) the dead worker was
//     running show up as a second attempt of the same schedule, every other one as attempt 1;
//   - the command log (POLAR_COMMAND_LOG, one line per acting command, with the worker's pid):
//     no command of a step that had completed before the kill was run again by the new worker,
//     every command the new worker ran belongs to a step that had not completed, and each effect
//     (bind the image, mount, create a local dir, clone, start PostgreSQL) was issued once; an
//     interrupted step may issue its command again only when the first issue never took effect;
//   - the machine itself: one loop device per image, one mount per mount point, one "starting
//     PostgreSQL" per node, a complete clone on the replica, and the data fingerprint taken before
//     the disaster equal on every node (the workflow verifies it too).
//
// Between steps (1): a kill right after every step's ActivityTaskCompleted, every boundary of the
// run (17 cases, one small lab reused: disaster, recover with a kill, check, again). In the middle
// of long steps (2): while the primary's PostgreSQL is starting, the moment pg_ctl is issued, and
// three ways a clone of the replica can be cut (on a lab with 200 MB of data so the clone takes
// seconds): the orphaned clone finishes on its own; it outlives the heartbeat timeout (a slow
// clone); the host crashes with it (the clone dies too, the unfinished copy must be removed and
// cloned again, once).
//
// Resume latency (new worker process spawned -> next step completed) is printed per case. Between
// steps it is ~10 s: the dead worker holds the workflow task it had just picked up, and the server
// hands it to another worker only after the default workflow task timeout (10 s). Inside a step it
// is the activity heartbeat timeout (workflows/options.ts: a few seconds) plus the retry interval,
// overlapped with the new worker's own start-up (~3-5 s: bundling the workflows).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { whoAnswers } from '../lib/db.js';
import { dataDirOf } from '../lib/profiles/postgres.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { renderReport, type RecoveryReport, type StepRecord } from '../lib/model/report.js';
import { primaryOf, type ClusterSpec, type NodeSpec } from '../lib/model/spec.js';
import { createLab, destroyLab, labPaths, type Lab } from '../lab/lab.js';
import { postgresIn } from '../lab/system.js';
import { startDevServer, type DevServer } from '../scripts/dev-server.js';
import { lineOf, logOffset, readCommandLog, waitForCommand, type CommandEntry } from './helpers/command-log.js';
import {
  activityCalls,
  completes,
  eventMs,
  executionsOf,
  fetchAll,
  HistoryWatcher,
  pendingActivities,
  type PendingActivity,
  type SourcedEvent,
} from './helpers/history.js';
import { recordedFingerprint, sameData, toDisaster, within } from './helpers/recovery.js';
import { linkTargetOf, loopsOf, mountsAt, postgresStarts, processesWithArg, signalAll, sizeOf, waitGone } from './helpers/system.js';
import { spawnWorker, stopAllWorkers, type WorkerProcess } from './helpers/worker-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'crash-resume-'));
const commandLog = join(tmp, 'commands.jsonl');
const workerOutput = join(tmp, 'workers.log');

let dev: DevServer | undefined;
let client: Client;
let small: Lab | undefined;
let big: Lab | undefined;
let current: WorkerProcess | undefined;
/** Clone processes a scenario paused (SIGSTOP): killed at the end whatever happened. */
const paused = new Set<number>();
const latencies: { name: string; resumeMs: number; bootMs: number }[] = [];
/** What failed, said again at the end of its suite: CI keeps only the tail of a long suite's output. */
const failures: string[] = [];
const sayFailures = () => {
  for (const f of failures.splice(0)) console.log(`FAILED ${f}`);
};

before(async () => {
  dev = await startDevServer();
  client = new Client({ connection: await Connection.connect({ address: dev.address }) });
  // Both labs at once: the big one's 200 MB of data take a while to write.
  const [s, b] = await Promise.allSettled([createLab({ replicas: 1 }), createLab({ replicas: 1, dataMb: 200 })]);
  if (s.status === 'fulfilled') small = s.value;
  if (b.status === 'fulfilled') big = b.value;
  if (s.status === 'rejected') throw s.reason;
  if (b.status === 'rejected') throw b.reason;
});

after(async () => {
  signalAll([...paused], 'SIGKILL');
  await stopAllWorkers();
  for (const lab of [small, big])
    if (lab) await destroyLab(lab).catch((err: Error) => console.error(`destroying lab ${lab.id}: ${err.message}`));
  await client?.connection.close();
  await dev?.stop();
  if (latencies.length)
    console.log(
      `resume latency (new worker spawned -> next step completed):\n${latencies
        .map((l) => `  ${l.name.padEnd(58)} ${(l.resumeMs / 1000).toFixed(2)} s (worker start-up ${(l.bootMs / 1000).toFixed(2)} s)`)
        .join('\n')}`,
    );
  rmSync(tmp, { recursive: true, force: true });
});

/** The worker that runs the next recovery: the survivor of the last case, or a new one. */
async function liveWorker(): Promise<WorkerProcess> {
  if (!current || current.exited) {
    current = spawnWorker({ address: dev!.address, commandLog, outputFile: workerOutput });
    await current.ready;
  }
  return current;
}

const pgLog = (n: NodeSpec) => `${n.localDir}/postgresql.log`;
const node = (spec: ClusterSpec, name: string) => spec.nodes.find((n) => n.name === name)!;

interface Ctx {
  lab: Lab;
  handle: WorkflowHandle;
  watch: HistoryWatcher;
  /** Command log offset at the start of this case. */
  from: number;
  /** The worker the scenario kills. */
  worker: WorkerProcess;
}

/** One effect as the command log shows it: how many times it must be issued in a run. */
interface Effect {
  name: string;
  host: string;
  re: RegExp;
  /** The step that issues it: when that step was interrupted, the command may be issued once more. */
  step: string;
  n: number;
  /**
   * The step's own retry: when another process took the free loop device between `losetup -f` and
   * the bind (the machine may be shared), the step asks again and binds once more; each extra
   * question allows one extra bind, never more.
   */
  askedAgain?: RegExp;
}

const EFFECTS: Effect[] = [
  {
    name: 'bind the shared image',
    host: 'pb1',
    re: /losetup --direct-io=on \S+ \S+\/shared\.img$/,
    step: 'attachStorage:pb1',
    n: 1,
    askedAgain: /\blosetup -f$/,
  },
  {
    name: 'bind the standby image',
    host: 'pb3',
    re: /losetup --direct-io=on \S+ \S+\/standby\.img$/,
    step: 'attachStorage:pb3',
    n: 1,
    askedAgain: /\blosetup -f$/,
  },
  { name: 'link the shared disk', host: 'pb1', re: /\bln -s \/dev\/loop/, step: 'attachStorage:pb1', n: 1 },
  { name: 'link the standby disk', host: 'pb3', re: /\bln -s \/dev\/loop/, step: 'attachStorage:pb3', n: 1 },
  { name: 'mount the shared disk', host: 'pb1', re: /\$ mount /, step: 'startStorageDaemon:pb1', n: 1 },
  { name: 'mount the standby disk', host: 'pb3', re: /\$ mount /, step: 'startStorageDaemon:pb3', n: 1 },
  { name: 'create the primary local dir', host: 'pb1', re: /\$ mkdir -m 0700 /, step: 'buildNode:pb1', n: 1 },
  { name: 'create the replica local dir', host: 'pb2', re: /\$ mkdir -m 0700 /, step: 'buildNode:pb2', n: 1 },
  { name: 'remove an unfinished clone', host: 'pb2', re: /\$ rm -rf /, step: 'buildNode:pb2', n: 0 },
  { name: 'clone the primary', host: 'pb2', re: /\/pg_basebackup /, step: 'buildNode:pb2', n: 1 },
  { name: 'start the primary', host: 'pb1', re: /\/pg_ctl .* start$/, step: 'startNode:pb1', n: 1 },
  { name: 'start the replica', host: 'pb2', re: /\/pg_ctl .* start$/, step: 'startNode:pb2', n: 1 },
  { name: 'start the standby', host: 'pb3', re: /\/pg_ctl .* start$/, step: 'startNode:pb3', n: 1 },
];

interface Scenario {
  /** Kills ctx.worker at its moment; returns where that was, for the diagnostics. */
  kill(ctx: Ctx): Promise<string>;
  /** After the kill, before the new worker starts. */
  afterKill?(ctx: Ctx): Promise<void>;
  /** While the new worker runs (started with it, awaited after the recovery). */
  whileResuming?(ctx: Ctx, b: WorkerProcess): Promise<void>;
  /** Steps the scenario requires to have been running on the dead worker. */
  interrupted?: string[];
  /** Exact counts that differ from EFFECTS for this scenario (by effect name). */
  effects?: Record<string, number>;
}

interface Outcome {
  report: RecoveryReport;
  entries: CommandEntry[];
  a: WorkerProcess;
  b: WorkerProcess;
  doneBefore: Set<string>;
  inFlight: Set<string>;
  step(id: string): StepRecord;
}

async function crashRun(t: TestContext, lab: Lab, name: string, sc: Scenario): Promise<Outcome> {
  const { spec } = lab;
  const a = await liveWorker();
  await toDisaster(client, lab);
  const recorded = recordedFingerprint(spec);
  const logFrom = Object.fromEntries(spec.nodes.map((n) => [n.name, sizeOf(pgLog(n))]));
  const from = logOffset(commandLog);
  const { handle, started } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'test' });
  assert.ok(started, 'a new recovery was started');
  const { runId } = await handle.describe();
  const watch = new HistoryWatcher(client, handle.workflowId, runId);
  const ctx: Ctx = { lab, handle, watch, from, worker: a };
  try {
    const landing = await within(sc.kill(ctx), 120_000, 'the kill');
    assert.ok(a.exited, 'the scenario killed the worker');
    await sc.afterKill?.(ctx);

    // What the dead worker left behind: completed steps, and what it was running. A completion it
    // sent just before it died may land while these are read: the pending activities are read
    // between two reads of the history (the first names the executions), and a step the second
    // shows completed counts as done, whatever the pending list said.
    const executions = executionsOf(await fetchAll(client, handle.workflowId, runId));
    const pending: PendingActivity[] = [];
    for (const [wf, run] of executions) pending.push(...(await pendingActivities(client, wf, run).catch(() => [])));
    const snapshot = await fetchAll(client, handle.workflowId, runId);
    const snapCalls = activityCalls(snapshot);
    const doneBefore = new Set(snapCalls.filter((c) => c.outcome === 'completed').map((c) => c.key));
    const inFlight = new Set<string>();
    // Started on the dead worker: still STARTED, or already timed out there and waiting for its
    // second attempt (the heartbeat timeout can pass before these reads: 2 s, the retry 200 ms later).
    for (const p of pending) {
      const key = snapCalls.find((c) => c.workflowId === p.workflowId && c.activityId === p.activityId)?.key;
      const ranOnDeadWorker = p.state === 2 /* PENDING_ACTIVITY_STATE_STARTED */ || p.attempt >= 2;
      if (key && ranOnDeadWorker && !doneBefore.has(key)) inFlight.add(key);
    }
    t.diagnostic(
      `${name}: killed worker ${a.pid} ${landing}; completed before: ${doneBefore.size} steps; running on the dead worker: ${[...inFlight].join(', ') || 'nothing'}`,
    );
    for (const s of sc.interrupted ?? [])
      assert.ok(inFlight.has(s), `${s} was running on the dead worker (running: ${[...inFlight].join(', ') || 'nothing'})`);

    const b = spawnWorker({ address: dev!.address, commandLog, outputFile: workerOutput });
    current = b;
    const resuming = sc.whileResuming?.(ctx, b);
    const report = await within(handle.result() as Promise<RecoveryReport>, 180_000, 'the resumed recovery');
    await resuming;
    const bootMs = await b.ready;
    for (const line of renderReport(report).split('\n')) if (!line.startsWith('  verified')) t.diagnostic(line);

    // ---- the Temporal history: every activity scheduled once; only the interrupted ones retried.
    const final = await fetchAll(client, handle.workflowId, runId);
    const calls = activityCalls(final);
    const keys = calls.map((c) => c.key);
    assert.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      [],
      'no activity was scheduled twice',
    );
    for (const c of calls) {
      assert.equal(c.outcome, 'completed', `${c.key} completed`);
      assert.equal(c.attempt, inFlight.has(c.key) ? 2 : 1, `${c.key}: attempts (interrupted: ${inFlight.has(c.key)})`);
    }
    const children = final.filter((e) => e.event.startChildWorkflowExecutionInitiatedEventAttributes);
    const childIds = children.map((e) => e.event.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId);
    assert.deepEqual(
      childIds.filter((k, i) => childIds.indexOf(k) !== i),
      [],
      'no child workflow was started twice',
    );
    const next = final
      .filter((e) => e.event.activityTaskCompletedEventAttributes && eventMs(e.event) > b.spawnedAt)
      .sort((x, y) => eventMs(x.event) - eventMs(y.event))[0];
    assert.ok(next, 'the new worker completed a step');
    const resumeMs = eventMs(next.event) - b.spawnedAt;
    latencies.push({ name, resumeMs, bootMs });
    t.diagnostic(`resume latency: ${resumeMs} ms from the new worker's spawn to the next completed step (its start-up took ${bootMs} ms)`);
    assert.ok(resumeMs < 30_000, `resumed within 30 s (took ${resumeMs} ms)`);

    // ---- the report
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
    for (const s of report.steps) assert.equal(s.attempts, calls.find((c) => c.key === s.id)?.attempt, `${s.id}: attempts in the report`);

    // ---- the command log: what each worker process ran.
    const entries = readCommandLog(commandLog, from);
    assert.deepEqual(
      [...new Set(entries.map((e) => e.pid).filter((p) => p !== a.pid && p !== b.pid))],
      [],
      'only the two workers ran commands',
    );
    const byA = new Set(entries.filter((e) => e.pid === a.pid).map(lineOf));
    const byB = new Set(entries.filter((e) => e.pid === b.pid).map(lineOf));
    const ranByB = new Set(report.steps.filter((s) => !doneBefore.has(s.id)).flatMap((s) => s.commands));
    for (const s of report.steps) {
      if (doneBefore.has(s.id)) {
        for (const c of s.commands) {
          assert.ok(byA.has(c), `${s.id} (completed before the kill) ran ${c} on the dead worker`);
          assert.ok(!byB.has(c), `${s.id} completed before the kill, yet the new worker ran ${c}`);
        }
      } else if (!inFlight.has(s.id)) {
        for (const c of s.commands) assert.ok(!byA.has(c), `${s.id} had not started, yet the dead worker ran ${c}`);
      }
    }
    for (const line of byB) assert.ok(ranByB.has(line), `the new worker ran ${line}, which no step it ran reports`);
    const counts = new Map<string, CommandEntry[]>();
    for (const e of entries) counts.set(lineOf(e), [...(counts.get(lineOf(e)) ?? []), e]);
    for (const [line, es] of counts) {
      // One worker asking again inside a step is the step's own retry (the history proves each
      // activity ran once per attempt); across workers only an interrupted step may repeat.
      if (es.length === 1 || es.every((e) => e.pid === es[0]!.pid)) continue;
      const pids = es.map((e) => e.pid).sort();
      const owner = report.steps.find((s) => s.commands.includes(line))?.id;
      assert.ok(
        es.length === 2 && pids[0] !== pids[1] && owner !== undefined && inFlight.has(owner),
        `${line} ran ${es.length} times (pids ${pids.join(', ')}): only an interrupted step may issue a command again, once`,
      );
    }
    for (const ef of EFFECTS) {
      const n = entries.filter((e) => e.host === ef.host && ef.re.test(e.command)).length;
      // Asked again by the same worker: the step's own retry (a new worker asking is the interrupted step's repeat).
      const askedBy = (pid: number) => entries.filter((e) => e.pid === pid && e.host === ef.host && ef.askedAgain?.test(e.command)).length;
      const again = [a.pid, b.pid].reduce((sum, pid) => sum + Math.max(0, askedBy(pid) - 1), 0);
      const want = (sc.effects?.[ef.name] ?? ef.n) + again;
      if (sc.effects?.[ef.name] !== undefined || !inFlight.has(ef.step)) assert.equal(n, want, `${ef.name}: issued ${n} times`);
      else assert.ok(n === want || n === want + 1, `${ef.name} (interrupted step ${ef.step}): issued ${n} times`);
    }

    // ---- the machine: each effect is there once.
    const p = labPaths(lab.id);
    for (const d of ['shared', 'standby'] as const) {
      const loops = await loopsOf(p.image[d]);
      assert.equal(loops.length, 1, `${d} image bound to one loop device (${loops.join(', ')})`);
      assert.equal(linkTargetOf(p.link[d]), loops[0], `${p.link[d]} -> ${loops[0]}`);
      assert.equal(mountsAt(p.mountPoint[d]), 1, `${p.mountPoint[d]} mounted once`);
    }
    for (const n of spec.nodes) assert.equal(postgresStarts(pgLog(n), logFrom[n.name]), 1, `PostgreSQL started once on ${n.name}`);
    assert.ok(existsSync(`${dataDirOf(spec, node(spec, 'pb2'))}/backup_manifest`), 'the replica holds a complete clone');

    // ---- the data: the fingerprint taken before the disaster, verified by the workflow and here.
    assert.ok(
      step('verifyData').verified.some((v) => /^fingerprint of \d+ tables matches/.test(v)),
      `the workflow compared the data with the fingerprint: ${step('verifyData').verified.join('; ')}`,
    );
    await sameData(spec, recorded);
    return { report, entries, a, b, doneBefore, inFlight, step };
  } catch (err) {
    failures.push(`${name}: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`);
    throw err;
  } finally {
    await watch.stop();
    signalAll([...paused], 'SIGKILL'); // a clone a failed scenario left paused
    paused.clear();
  }
}

/** Kill the worker the moment the history shows the step completed. */
const afterStep =
  (label: string, match: string | ((key: string) => boolean)): Scenario['kill'] =>
  async ({ watch, worker }) => {
    let hit: SourcedEvent | undefined;
    let lagMs = 0;
    const off = watch.on((e) => {
      if (hit || !e || !completes(match, e, watch.events)) return;
      hit = e;
      process.kill(worker.pid, 'SIGKILL'); // right here, synchronously with the event's arrival
      lagMs = Date.now() - eventMs(e.event);
    });
    try {
      await watch.waitFor((e, all) => completes(match, e, all), 90_000, `${label} to complete`);
    } finally {
      off();
    }
    await worker.kill();
    return `${lagMs} ms after ${label} completed`;
  };

const BOUNDARIES: [string, string | ((k: string) => boolean)][] = [
  ['fence', 'fence'],
  ['preflight', 'preflight'],
  ['attachStorage:pb1', 'attachStorage:pb1'],
  ['startStorageDaemon:pb1', 'startStorageDaemon:pb1'],
  ['the first prepareBinaries', (k) => k.startsWith('prepareBinaries:')],
  ['buildNode:pb1', 'buildNode:pb1'],
  ['startNode:pb1', 'startNode:pb1'],
  ['validateSlots', 'validateSlots'],
  ['attachStorage:pb3 (standby)', 'attachStorage:pb3'],
  ['startStorageDaemon:pb3 (standby)', 'startStorageDaemon:pb3'],
  ['buildNode:pb3 (standby)', 'buildNode:pb3'],
  ['startNode:pb3 (standby)', 'startNode:pb3'],
  ['waitStreaming:pb3 (standby)', 'waitStreaming:pb3'],
  ['buildNode:pb2 (replica, child workflow)', 'buildNode:pb2'],
  ['startNode:pb2 (replica, child workflow)', 'startNode:pb2'],
  ['waitStreaming:pb2 (replica, child workflow)', 'waitStreaming:pb2'],
  ['verifyData', 'verifyData'],
];

describe('kill -9 between steps: a completed step never runs again', { timeout: 20 * 60_000 }, () => {
  after(sayFailures);
  for (const [label, match] of BOUNDARIES) {
    test(`right after ${label} completes`, { timeout: 180_000 }, async (t) => {
      assert.ok(small, 'the lab');
      await crashRun(t, small, `after ${label}`, { kill: afterStep(label, match) });
    });
  }
});

describe('kill -9 in the middle of a long step: it resumes, its effect happens once', { timeout: 20 * 60_000 }, () => {
  after(sayFailures);
  test('while PostgreSQL is starting on the primary (postmaster up, pg_ctl still waiting)', { timeout: 180_000 }, async (t) => {
    assert.ok(small, 'the lab');
    const r = await crashRun(t, small, 'while the primary starts', {
      interrupted: ['startNode:pb1'],
      async kill({ lab, from, worker }) {
        const { spec } = lab;
        await waitForCommand(
          commandLog,
          from,
          (e) => e.host === 'pb1' && /\/pg_ctl .* start$/.test(e.command),
          90_000,
          'pg_ctl start on pb1',
        );
        const data = dataDirOf(spec, primaryOf(spec));
        for (const deadline = Date.now() + 30_000; (await postgresIn((cwd) => cwd === data)).length === 0;) {
          assert.ok(Date.now() < deadline, 'a postmaster appeared in the primary data dir');
          await new Promise((r) => setTimeout(r, 2));
        }
        const state = (await whoAnswers(spec, primaryOf(spec))).state;
        await worker.kill();
        return `with the postmaster running and the primary answering: ${state}`;
      },
    });
    // The postmaster the dead worker's pg_ctl launched is the one that serves: not started again.
    assert.deepEqual(r.step('startNode:pb1').commands, [], 'the retry found PostgreSQL running and issued nothing');
  });

  test('the moment pg_ctl start is issued on the primary', { timeout: 180_000 }, async (t) => {
    assert.ok(small, 'the lab');
    const r = await crashRun(t, small, 'as pg_ctl start is issued', {
      interrupted: ['startNode:pb1'],
      async kill({ from, worker }) {
        await waitForCommand(
          commandLog,
          from,
          (e) => e.host === 'pb1' && /\/pg_ctl .* start$/.test(e.command),
          90_000,
          'pg_ctl start on pb1',
        );
        await worker.kill();
        return 'as soon as pg_ctl start was in the command log';
      },
    });
    // pg_ctl, orphaned, dies of SIGPIPE at its first message to the dead worker's pipe: if that came
    // before it launched the postmaster, the retry starts it again (2 issues, still 1 start).
    const issued = r.entries.filter((e) => e.host === 'pb1' && /\/pg_ctl .* start$/.test(e.command)).length;
    t.diagnostic(`pg_ctl start issued ${issued} time(s); PostgreSQL started once (its log)`);
  });

  const cloneCut = async ({ lab, from, worker }: Ctx): Promise<string> => {
    const data = dataDirOf(lab.spec, node(lab.spec, 'pb2'));
    await waitForCommand(commandLog, from, (e) => e.host === 'pb2' && /\/pg_basebackup /.test(e.command), 120_000, 'the clone of pb2');
    for (const deadline = Date.now() + 30_000; !existsSync(`${data}/global`);) {
      assert.ok(Date.now() < deadline, 'the clone started writing');
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 200));
    await worker.kill();
    return `mid-clone (backup_manifest there: ${existsSync(`${data}/backup_manifest`)})`;
  };
  /** Which directory this is: its inode and birth time (an inode number alone is reused at once). */
  const inode = (path: string) => {
    const st = statSync(path, { bigint: true });
    return `${st.ino}@${st.birthtimeNs}`;
  };

  test('mid-clone of the replica: the orphaned clone finishes on its own and is kept', { timeout: 240_000 }, async (t) => {
    assert.ok(big, 'the 200 MB lab');
    const data = dataDirOf(big.spec, node(big.spec, 'pb2'));
    let ino = '';
    const r = await crashRun(t, big, 'mid-clone, the clone finishes alone', {
      interrupted: ['buildNode:pb2'],
      kill: cloneCut,
      async afterKill() {
        ino = inode(data);
      },
    });
    assert.equal(inode(data), ino, 'the clone the dead worker started is the one the replica runs on');
    assert.ok(!r.step('buildNode:pb2').commands.some((c) => /pg_basebackup|rm -rf/.test(c)), 'the retry neither removed nor cloned');
  });

  test(
    'mid-clone of the replica: a clone that outlives the heartbeat timeout is waited for, not removed under it',
    { timeout: 240_000 },
    async (t) => {
      assert.ok(big, 'the 200 MB lab');
      const data = dataDirOf(big.spec, node(big.spec, 'pb2'));
      let clone: number[] = [];
      let ino = '';
      const r = await crashRun(t, big, 'mid-clone, the clone is slow', {
        interrupted: ['buildNode:pb2'],
        kill: cloneCut,
        async afterKill() {
          // A slow clone: still running when the retry comes, a heartbeat timeout later.
          clone = processesWithArg(data);
          assert.ok(clone.length > 0, 'the orphaned clone runs');
          signalAll(clone, 'SIGSTOP');
          clone.forEach((pid) => paused.add(pid));
          assert.ok(!existsSync(`${data}/backup_manifest`), 'the clone is unfinished');
          ino = inode(data);
        },
        async whileResuming({ watch, from }, b) {
          // The retry must wait for the clone, touching nothing, however long the clone takes.
          const child = executionsOf(watch.events);
          const replica = [...child].find(([wf]) => wf.endsWith('/replica/pb2'));
          assert.ok(replica, 'the rebuildReplica child of pb2');
          for (const deadline = Date.now() + 60_000; ;) {
            const p = await pendingActivities(client, replica[0], replica[1]);
            if (p.some((x) => x.type === 'buildNode' && x.attempt >= 2 && x.state === 2)) break;
            assert.ok(Date.now() < deadline, 'the new worker retried buildNode:pb2');
            await new Promise((res) => setTimeout(res, 100));
          }
          await new Promise((res) => setTimeout(res, 2000));
          const touched = readCommandLog(commandLog, from).filter((e) => e.pid === b.pid && e.host === 'pb2');
          assert.deepEqual(touched.map(lineOf), [], 'while the earlier clone runs, the retry does nothing on pb2');
          assert.equal(inode(data), ino, 'the unfinished clone is still in place');
          t.diagnostic('the retry waited for the still-running clone for 2 s without touching it; letting the clone go on');
          signalAll(clone, 'SIGCONT');
          clone.forEach((pid) => paused.delete(pid));
        },
      });
      assert.equal(inode(data), ino, 'the orphaned clone was waited for and kept');
      assert.ok(
        r.step('buildNode:pb2').verified.some((v) => /an earlier clone .* was still running; waited/.test(v)),
        'the report says the retry waited for the earlier clone',
      );
      assert.ok(!r.step('buildNode:pb2').commands.some((c) => /pg_basebackup|rm -rf/.test(c)), 'the retry neither removed nor cloned');
    },
  );

  test(
    'mid-clone of the replica, the host crashes with it: the unfinished clone is removed and cloned once more',
    { timeout: 240_000 },
    async (t) => {
      assert.ok(big, 'the 200 MB lab');
      const data = dataDirOf(big.spec, node(big.spec, 'pb2'));
      let ino = '';
      const r = await crashRun(t, big, 'mid-clone, the host crashes', {
        interrupted: ['buildNode:pb2'],
        kill: cloneCut,
        effects: { 'remove an unfinished clone': 1, 'clone the primary': 2 },
        async afterKill() {
          const clone = processesWithArg(data);
          assert.ok(clone.length > 0, 'the orphaned clone runs');
          signalAll(clone, 'SIGKILL');
          await waitGone(clone);
          assert.ok(existsSync(data) && !existsSync(`${data}/backup_manifest`), 'an unfinished clone is left');
          ino = inode(data);
        },
      });
      assert.notEqual(inode(data), ino, 'the unfinished clone was removed, a new one made');
      const cmds = r.step('buildNode:pb2').commands;
      assert.ok(
        cmds.findIndex((c) => /rm -rf/.test(c)) >= 0 &&
          cmds.findIndex((c) => /rm -rf/.test(c)) < cmds.findIndex((c) => /pg_basebackup/.test(c)),
        `the retry removed the unfinished clone, then cloned: ${cmds.join('; ')}`,
      );
      const clones = r.entries.filter((e) => /\/pg_basebackup /.test(e.command));
      assert.deepEqual(
        clones.map((e) => e.pid),
        [r.a.pid, r.b.pid],
        'one interrupted clone (dead worker), one complete clone (new worker)',
      );
    },
  );
});
