// Interrupted failovers resume exactly where they stopped, proven by killing the worker (SIGKILL)
// as test/crash-resume.test.ts does for the recovery: the worker is its own process on a real
// Temporal dev server, the failover's history is watched live, and the proof comes from the
// history (each step scheduled once; only a step the dead worker was running has a second
// attempt), the command log (POLAR_COMMAND_LOG: no command of a completed step runs again; an
// interrupted step may issue a command once more only when the first issue never took effect),
// and the machine (one `received promote request` in the standby's server log, timeline 2, every
// row the lab held before the disaster on the new primary and on the rebuilt read-only node).
//
// Two labs, two failovers, so the run stays a few minutes on a loaded 2-core machine:
//   1. One failover with a kill right after EVERY step completes (each step boundary, the
//      rebuildReplica child's included): each kill costs ~10 s, the workflow task timeout the
//      dead worker's held task must run out before a new worker takes it.
//   2. One failover killed inside its two long steps: the promote wait (the standby's startup
//      process is paused, so the promotion requested by `pg_ctl promote` stays pending while the
//      worker dies; the retry must wait for it, never request it again), then the rebuild of the
//      read-only node the moment its clone (pg_basebackup) is issued.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { fingerprint, withDb } from '../lib/db.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { startOrAttachFailover } from '../client/start-failover.js';
import { failoverStandby, specAfterFailover } from '../lib/model/failover.js';
import { renderReport, type FailoverReport } from '../lib/model/report.js';
import type { ClusterSpec, NodeSpec } from '../lib/model/spec.js';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { startDevServer, type DevServer } from '../scripts/dev-server.js';
import { lineOf, logOffset, readCommandLog, waitForCommand, type CommandEntry } from './helpers/command-log.js';
import {
  activityCalls,
  eventMs,
  executionsOf,
  fetchAll,
  HistoryWatcher,
  pendingActivities,
  stepKey,
  type SourcedEvent,
} from './helpers/history.js';
import { sameData, sleep, within } from './helpers/recovery.js';
import { signalAll, sizeOf } from './helpers/system.js';
import { spawnWorker, stopAllWorkers, type WorkerProcess } from './helpers/worker-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'failover-crash-'));
const commandLog = join(tmp, 'commands.jsonl');
const workerOutput = join(tmp, 'workers.log');
// The worker processes inherit it: the new topology's spec is written here, not in /var/lib.
process.env.POLAR_FAILOVER_DIR = join(tmp, 'failovers');

let dev: DevServer | undefined;
let client: Client;
let labs: Lab[] = [];
/** Processes a scenario paused (SIGSTOP): continued at the end whatever happened. */
const paused = new Set<number>();
const latencies: { name: string; resumeMs: number }[] = [];

before(async () => {
  dev = await startDevServer();
  client = new Client({ connection: await Connection.connect({ address: dev.address }) });
  const made = await Promise.allSettled([createLab({ replicas: 1 }), createLab({ replicas: 1 })]);
  labs = made.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
  for (const m of made) if (m.status === 'rejected') throw m.reason;
});

after(async () => {
  signalAll([...paused], 'SIGCONT');
  await stopAllWorkers();
  for (const lab of labs) await destroyLab(lab).catch((err: Error) => console.error(`destroying lab ${lab.id}: ${err.message}`));
  await client?.connection.close();
  await dev?.stop();
  if (latencies.length)
    console.log(
      `resume latency (new worker spawned -> next step completed):\n${latencies
        .map((l) => `  ${l.name.padEnd(50)} ${(l.resumeMs / 1000).toFixed(2)} s`)
        .join('\n')}`,
    );
  rmSync(tmp, { recursive: true, force: true });
});

const newWorker = (): WorkerProcess => spawnWorker({ address: dev!.address, commandLog, outputFile: workerOutput });
const pgLog = (n: NodeSpec) => `${n.localDir}/postgresql.log`;
const decode = (p: unknown): unknown => defaultPayloadConverter.fromPayload(p as Payload);

/**
 * The step id (as the report names it: `promote:pb3`, `checkRunbooks:promote`, `buildNode:pb2`)
 * of every activity scheduled in these events, keyed `<workflowId>#<scheduled event id>`: the
 * Recorder names each step in the activity's summary (`promote pb3 (standby)`).
 */
function stepIds(events: SourcedEvent[]): Map<string, string> {
  const ids = new Map<string, string>();
  for (const { workflowId, event } of events) {
    const s = event.activityTaskScheduledEventAttributes;
    if (!s) continue;
    const summary = event.userMetadata?.summary ? String(decode(event.userMetadata.summary)) : undefined;
    const args = (s.input?.payloads ?? []).map(decode);
    const id = summary
      ? summary
          .replace(/ \(.*\)$/, '')
          .split(' ')
          .join(':')
      : stepKey(s.activityType?.name ?? '?', args);
    ids.set(`${workflowId}#${String(event.eventId)}`, id);
  }
  return ids;
}

interface Call {
  id: string;
  workflowId: string;
  activityId: string;
  attempt?: number;
  outcome?: string;
}

const callsOf = (events: SourcedEvent[]): Call[] => {
  const ids = stepIds(events);
  return activityCalls(events).map((c) => ({
    id: ids.get(`${c.workflowId}#${c.scheduledEventId}`) ?? c.key,
    workflowId: c.workflowId,
    activityId: c.activityId,
    attempt: c.attempt,
    outcome: c.outcome,
  }));
};

/** Step ids the dead worker was running (started, not closed) when it was killed. */
async function runningOn(events: SourcedEvent[]): Promise<string[]> {
  const calls = callsOf(events);
  const out: string[] = [];
  for (const [wf, run] of executionsOf(events))
    for (const p of await pendingActivities(client, wf, run).catch(() => []))
      if (p.state === 2) {
        const c = calls.find((x) => x.workflowId === wf && x.activityId === p.activityId);
        if (c) out.push(c.id);
      }
  return out;
}

/** Kills `worker` synchronously with the arrival of the event that completes step `id`. */
async function killAfter(watch: HistoryWatcher, worker: WorkerProcess, id: string): Promise<number> {
  const isIt = (e: SourcedEvent | undefined, all: SourcedEvent[]) => {
    const done = e?.event.activityTaskCompletedEventAttributes;
    return !!done && stepIds(all).get(`${e!.workflowId}#${String(done.scheduledEventId)}`) === id;
  };
  let lagMs = -1;
  const off = watch.on((e) => {
    if (lagMs >= 0 || !isIt(e, watch.events)) return;
    process.kill(worker.pid, 'SIGKILL');
    lagMs = Date.now() - eventMs(e!.event);
  });
  try {
    await watch.waitFor((e, all) => isIt(e, all), 150_000, `${id} to complete`);
  } finally {
    off();
  }
  await worker.kill();
  return lagMs;
}

/** The first step a worker spawned at `spawnedAt` completed: ms from the spawn. */
const resumeMs = (events: SourcedEvent[], spawnedAt: number): number | undefined => {
  const next = events
    .filter((e) => e.event.activityTaskCompletedEventAttributes && eventMs(e.event) > spawnedAt)
    .sort((x, y) => eventMs(x.event) - eventMs(y.event))[0];
  return next ? eventMs(next.event) - spawnedAt : undefined;
};

interface Run {
  lab: Lab;
  spec: ClusterSpec;
  after: ClusterSpec;
  recorded: Record<string, { rows: number; checksum: string }>;
  from: number;
  standbyLogFrom: number;
  watch: HistoryWatcher;
  handle: Awaited<ReturnType<typeof startOrAttachFailover>>['handle'];
  runId: string;
}

async function startRun(t: TestContext, lab: Lab): Promise<Run> {
  const spec = lab.spec;
  const after = specAfterFailover(spec);
  const standby = failoverStandby(spec);
  const { tables: recorded } = await disaster(lab, (l) => t.diagnostic(l), { storageLost: true });
  const from = logOffset(commandLog);
  const standbyLogFrom = sizeOf(pgLog(standby));
  const { handle, started } = await startOrAttachFailover(client, spec.cluster, { spec, trigger: 'test' });
  assert.ok(started, 'a new failover was started');
  const { runId } = await handle.describe();
  return { lab, spec, after, recorded, from, standbyLogFrom, watch: new HistoryWatcher(client, handle.workflowId, runId), handle, runId };
}

/**
 * What every interrupted failover must show at its end. `doneOn`: step id -> pid of the worker
 * that had completed it before some kill; `inFlight`: steps a dead worker was running.
 */
async function proveResumed(t: TestContext, run: Run, workers: WorkerProcess[], inFlight: Set<string>): Promise<FailoverReport> {
  const { handle, spec, after, runId } = run;
  const report = (await within(handle.result() as Promise<FailoverReport>, 240_000, 'the resumed failover')) as FailoverReport;
  for (const line of renderReport(report).split('\n')) if (!line.startsWith('  verified')) t.diagnostic(line);
  assert.equal(report.outcome, 'failed-over');
  assert.equal(report.promoted, 'pb3');
  assert.equal(report.timeline, 2, 'promoted once: timeline 2');
  assert.deepEqual(
    report.steps.filter((s) => s.state !== 'done').map((s) => s.id),
    [],
  );

  // ---- the history: every step scheduled once, completed; only interrupted ones in a second attempt.
  const final = await fetchAll(client, handle.workflowId, runId);
  const calls = callsOf(final);
  const ids = calls.map((c) => c.id);
  assert.deepEqual(
    ids.filter((k, i) => ids.indexOf(k) !== i),
    [],
    'no step was scheduled twice',
  );
  for (const c of calls) {
    assert.equal(c.outcome, 'completed', `${c.id} completed`);
    if (inFlight.has(c.id)) assert.ok(c.attempt === 1 || c.attempt === 2, `${c.id} (interrupted): attempt ${c.attempt}`);
    else assert.equal(c.attempt, 1, `${c.id}: one attempt (it was not running when a worker died)`);
  }
  for (const s of report.steps) assert.ok(ids.includes(s.id), `report step ${s.id} is an activity of the history (${ids.join(', ')})`);
  const childIds = final.flatMap((e) => e.event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
  assert.deepEqual(childIds, [`${handle.workflowId}/replica/pb2`], 'one rebuildReplica child, started once');

  // ---- the command log: which worker ran what, and how often.
  const entries = readCommandLog(commandLog, run.from);
  const pids = new Set(workers.map((w) => w.pid));
  assert.deepEqual(
    [...new Set(entries.map((e) => e.pid))].filter((p) => !pids.has(p)),
    [],
    'only this run’s workers ran commands',
  );
  const counts = new Map<string, CommandEntry[]>();
  for (const e of entries) counts.set(lineOf(e), [...(counts.get(lineOf(e)) ?? []), e]);
  for (const [line, es] of counts) {
    if (es.length === 1) continue;
    const owner = report.steps.find((s) => s.commands.includes(line))?.id;
    assert.ok(
      es.length === 2 && es[0]!.pid !== es[1]!.pid && owner !== undefined && inFlight.has(owner),
      `${line} ran ${es.length} times (pids ${es.map((e) => e.pid).join(', ')}): only an interrupted step may issue a command again, once`,
    );
  }
  for (const s of report.steps) for (const c of s.commands) assert.ok(counts.has(c), `${s.id}: ${c} is in the command log`);
  const issued = (host: string, re: RegExp) => entries.filter((e) => e.host === host && re.test(e.command)).length;
  assert.equal(issued('pb3', /\/pg_ctl promote /), 1, 'pg_ctl promote issued once');
  assert.equal(issued('pb2', /\/pg_ctl .* start$/), 1, 'the rebuilt read-only node started once');

  // ---- the machine: promoted once, the data all there, the new read-only node streams.
  const standbyLog = readFileSync(pgLog(failoverStandby(spec)))
    .subarray(run.standbyLogFrom)
    .toString('utf8');
  assert.equal((standbyLog.match(/received promote request/g) ?? []).length, 1, 'the standby received one promote request');
  await withDb(after, after.nodes[0]!, async (db) => {
    assert.deepEqual(await fingerprint(db, Object.keys(run.recorded)), run.recorded, 'every row of the lab is on the new primary');
    const streaming = (
      await db.query(
        'select s.slot_name, r.state from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid order by 1',
      )
    ).rows;
    assert.deepEqual(streaming, [{ slot_name: 'replica1', state: 'streaming' }]);
  });
  await sameData(after, run.recorded);
  assert.ok(existsSync(report.specAfterFile), `the new topology's spec was written (${report.specAfterFile})`);
  return report;
}

/** A resume slower than this is a hang, not load (a worker's start-up alone took up to ~60 s beside other tests). */
const RESUME_BOUND_MS = 180_000;

const CAUGHT_UP = 'select pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() as up';

/** Every step of the lab's failover, in order (postgres: the read-only node is a clone of the new primary). */
const BOUNDARIES = [
  'checkRunbooks',
  'fence',
  'recordPosition:pb3',
  'checkRunbooks:promote',
  'promote:pb3',
  'validateSlots:pb3',
  'prepareBinaries:pb2',
  'buildNode:pb2',
  'startNode:pb2',
  'waitStreaming:pb2',
  'verifyFailover',
  'writeSpec',
];

describe('kill -9 during a failover: it resumes, never repeats a completed step, never promotes twice', { timeout: 30 * 60_000 }, () => {
  test('one failover, the worker killed right after every step completes', { timeout: 15 * 60_000 }, async (t) => {
    const run = await startRun(t, labs[0]!);
    const workers = [newWorker()];
    const inFlight = new Set<string>();
    try {
      for (const id of BOUNDARIES) {
        const dead = workers.at(-1)!;
        const lag = await killAfter(run.watch, dead, id);
        const running = await runningOn(await fetchAll(client, run.handle.workflowId, run.runId));
        running.forEach((s) => inFlight.add(s));
        t.diagnostic(`killed worker ${dead.pid} ${lag} ms after ${id} completed; running on it: ${running.join(', ') || 'nothing'}`);
        workers.push(newWorker());
      }
      await proveResumed(t, run, workers, inFlight);
      // Each kill: how long the next worker took to complete a step (its own start-up, bundling
      // the workflows, is most of it on a loaded machine). Printed; bounded only against a hang.
      const events = await fetchAll(client, run.handle.workflowId, run.runId);
      const mine = workers.slice(1).flatMap((w, i) => {
        const ms = resumeMs(events, w.spawnedAt);
        return ms === undefined ? [] : [{ name: `after ${BOUNDARIES[i]}`, resumeMs: ms }]; // none after the last step
      });
      latencies.push(...mine);
      for (const l of mine) t.diagnostic(`resume latency ${l.name}: ${l.resumeMs} ms`);
      for (const l of mine)
        assert.ok(l.resumeMs < RESUME_BOUND_MS, `${l.name}: resumed within ${RESUME_BOUND_MS} ms (took ${l.resumeMs} ms)`);
    } finally {
      await run.watch.stop();
      await stopAllWorkers(); // the survivor too: the next test's failover runs on its own workers only
    }
  });

  test('one failover, killed inside the promote wait and inside the rebuild of the read-only node', { timeout: 10 * 60_000 }, async (t) => {
    const run = await startRun(t, labs[1]!);
    const { spec } = run;
    const standby = failoverStandby(spec);
    const dataDir = postgresProfile.postmasterDir(spec, standby);
    const postmaster = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    // The standby's startup process replays WAL and carries out a promotion: paused, it holds the promotion pending.
    const startup = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((pid) => /startup/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')));
    // Caught up first: the position recorded then is the standby's all, no lag gate.
    await waitFor(
      async () => withDb(spec, standby, async (db) => (await db.query<{ up: boolean }>(CAUGHT_UP)).rows[0]!.up),
      30_000,
      'the standby to replay all it received',
    );
    assert.equal(startup.length, 1, `one startup process under the standby's postmaster ${postmaster}`);
    signalAll(startup, 'SIGSTOP');
    startup.forEach((p) => paused.add(p));

    await stopAllWorkers();
    const workers = [newWorker()];
    const inFlight = new Set<string>();
    try {
      // 1. Inside the promote wait: pg_ctl promote issued, the standby still in recovery.
      const promoteIssued = await waitForCommand(
        commandLog,
        run.from,
        (e) => e.host === 'pb3' && /\/pg_ctl promote /.test(e.command),
        150_000,
        'pg_ctl promote',
      );
      assert.equal(promoteIssued.pid, workers[0]!.pid, 'the worker about to be killed issued the promote');
      await waitFor(() => existsSync(`${dataDir}/promote`), 10_000, 'the promote request file');
      await sleep(500); // the activity is in its wait loop
      await workers[0]!.kill();
      let running = await runningOn(await fetchAll(client, run.handle.workflowId, run.runId));
      running.forEach((s) => inFlight.add(s));
      t.diagnostic(`killed worker ${workers[0]!.pid} inside the promote wait; running on it: ${running.join(', ')}`);
      assert.ok(running.includes('promote:pb3'), 'the promote step was running on the dead worker');
      const inRecovery = async () =>
        withDb(spec, standby, async (db) => (await db.query<{ r: boolean }>('select pg_is_in_recovery() as r')).rows[0]!.r);
      assert.equal(await inRecovery(), true, 'the promotion is still pending');

      // The new worker retries the promote step: it must find the request pending and wait, not request again.
      const b = newWorker();
      workers.push(b);
      await waitFor(
        async () =>
          (await pendingActivities(client, run.handle.workflowId, run.runId)).some(
            (p) => p.type === 'promote' && p.attempt >= 2 && p.state === 2,
          ),
        90_000,
        'the new worker to retry the promote step',
      );
      await sleep(2000);
      assert.equal(
        readCommandLog(commandLog, run.from).filter((e) => e.pid === b.pid && /\/pg_ctl promote /.test(e.command)).length,
        0,
        'the retry did not request the promotion again',
      );
      assert.equal(await inRecovery(), true, 'still pending while the startup process is paused');
      t.diagnostic('the retry waited 2 s for the pending promotion without requesting it again; letting the standby go on');
      signalAll(startup, 'SIGCONT');
      startup.forEach((p) => paused.delete(p));

      // 2. Inside the rebuild of the read-only node: the moment its clone is issued.
      const clone = await waitForCommand(
        commandLog,
        run.from,
        (e) => e.host === 'pb2' && /\/pg_basebackup /.test(e.command),
        150_000,
        'the clone of pb2',
      );
      assert.equal(clone.pid, b.pid, 'the worker about to be killed issued the clone');
      await b.kill();
      running = await runningOn(await fetchAll(client, run.handle.workflowId, run.runId));
      running.forEach((s) => inFlight.add(s));
      t.diagnostic(`killed worker ${b.pid} as the clone of pb2 was issued; running on it: ${running.join(', ')}`);
      assert.ok(running.includes('buildNode:pb2'), 'the rebuild of pb2 was running on the dead worker');
      const c = newWorker();
      workers.push(c);

      const report = await proveResumed(t, run, workers, inFlight);
      const promote = report.steps.find((s) => s.id === 'promote:pb3')!;
      assert.equal(promote.attempts, 2, 'the promote step resumed in a second attempt');
      assert.deepEqual(promote.commands, [], 'the retry issued no command: the promotion it found pending was waited for');
      assert.ok(
        promote.skipped.some((s) => /promote pb3 \(already done\)/.test(s)),
        `the report says the request was found pending: ${promote.skipped.join('; ')}`,
      );
      const clones = readCommandLog(commandLog, run.from).filter((e) => e.host === 'pb2' && /\/pg_basebackup /.test(e.command));
      t.diagnostic(
        `pg_basebackup issued ${clones.length} time(s) (the orphaned clone ${clones.length === 1 ? 'was kept' : 'was replaced'})`,
      );
      const events = await fetchAll(client, run.handle.workflowId, run.runId);
      for (const [name, w] of [
        ['inside the promote wait', b],
        ['inside the rebuild of pb2', c],
      ] as const) {
        const ms = resumeMs(events, w.spawnedAt);
        t.diagnostic(`resume latency ${name}: ${ms} ms`);
        assert.ok(ms !== undefined && ms < RESUME_BOUND_MS, `${name}: resumed within ${RESUME_BOUND_MS} ms (took ${ms} ms)`);
        latencies.push({ name, resumeMs: ms });
      }
    } finally {
      signalAll([...paused], 'SIGCONT');
      paused.clear();
      await run.watch.stop();
      await stopAllWorkers();
    }
  });
});

async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await pred());) {
    assert.ok(Date.now() < deadline, `timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
