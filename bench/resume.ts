// Resume latency: the worker runs as its own process (`node dist/workers/worker.js`, compiled, the
// workflow bundle prebuilt), is SIGKILLed mid-recovery and either restarted at once (`restart`) or
// left dead while a second worker already polls (`second-worker`, as docker-compose.yml's two
// replicas). Measured: kill -> the interrupted step's retry starting, and from the new worker's
// spawn (or the kill) to the workflow's next completed step (history event times), next to what
// the interrupted work itself still had to do (the primary answering / the orphaned clone finishing).
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { whoAnswers } from '../lib/db.js';
import { dataDirOf } from '../lib/profiles/postgres.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { RecoveryReport } from '../lib/model/report.js';
import { nodesOf, primaryOf } from '../lib/model/spec.js';
import type { Lab } from '../lab/lab.js';
import { histories, recoveryWorkflowIds } from './history.js';
import { sleep } from './stats.js';
import { sigkill, spawnWorkerProcess, stopWorkerProcess, type WorkerProcess } from './temporal.js';

export type KillPoint = 'primary-start' | 'replica-clone';
export type ResumeMode = 'restart' | 'second-worker';

export interface ResumeResult {
  point: KillPoint;
  mode?: ResumeMode;
  lab: string;
  /** The step that was running when the worker died. */
  interrupted: string;
  /** How long the interrupted activity had run when the worker was killed. */
  ranBeforeKillMs?: number;
  /** From the kill to the interrupted work being done by itself (primary answers / orphaned clone exits). */
  remainingMs?: number;
  /** `restart`: the new worker's spawn to polling the task queue (node, the compiled code, the prebuilt bundle, connect). */
  workerStartMs?: number;
  /** Kill to the retry attempt starting on a live worker (heartbeat timeout + retry backoff + poll). */
  killToRetryStartMs?: number;
  retryAttempt?: number;
  /** New worker spawned (`second-worker`: the kill) -> the workflow's next completed step (any step: the branches run in parallel). */
  latencyMs: number;
  /** New worker spawned (`second-worker`: the kill) -> the interrupted step itself completed. */
  interruptedDoneMs?: number;
  nextStep: string;
  targetMs?: number;
  rtoMs: number;
  ok?: boolean;
}

/** PIDs of processes whose cwd is `dir` and whose executable is `exe` (postgres), or whose argv contains `arg`. */
async function pidsWhere(pred: (pid: string) => Promise<boolean>): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) if (/^\d+$/.test(e) && (await pred(e).catch(() => false))) pids.push(Number(e));
  return pids;
}
const cwdIs = (dir: string) => async (pid: string) => (await readlink(`/proc/${pid}/cwd`)) === dir;
const cloneInto = (dir: string) => async (pid: string) => {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  return argv[0]!.endsWith('/pg_basebackup') && argv.includes(dir);
};

async function waitFor<T>(what: string, limitMs: number, everyMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${limitMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

const ppidOf = async (pid: number): Promise<number | undefined> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const m = /\) \S (\d+)/.exec(stat);
  return m ? Number(m[1]) : undefined;
};

/** The worker process among `workers` that `pid` descends from (it ran the command). */
async function workerAbove(pids: number[], workers: WorkerProcess[]): Promise<WorkerProcess | undefined> {
  for (const start of pids) {
    for (let p: number | undefined = start, hops = 0; p && p > 1 && hops < 20; p = await ppidOf(p), hops++) {
      const w = workers.find((x) => x.pid === p);
      if (w) return w;
    }
  }
  return undefined;
}

/**
 * One kill on a wrecked lab. `workers` poll the task queue (one for `restart`, two for
 * `second-worker`); the one running the interrupted command is SIGKILLed. `restart` spawns its
 * replacement at once; `second-worker` leaves the other to take over and spawns the replacement
 * only after the recovery. Returns the workers polling afterwards with the result.
 */
export async function resumeOnce(
  client: Client,
  address: string,
  lab: Lab,
  point: KillPoint,
  workers: WorkerProcess[],
  say: (l: string) => void,
  mode: ResumeMode = 'restart',
): Promise<{ result: ResumeResult; workers: WorkerProcess[] }> {
  const spec = lab.spec;
  const primary = primaryOf(spec);
  const replica = nodesOf(spec, 'replica')[0]!;
  for (const w of workers) await w.ready;
  const { handle } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'drill' });
  const result = handle.result() as Promise<RecoveryReport>;
  result.catch(() => {});

  // The moment to kill: the primary's postmaster has just been launched by startNode, or the
  // replica's pg_basebackup is copying.
  let watchedDir: string;
  let seen: number[];
  if (point === 'primary-start') {
    watchedDir = dataDirOf(spec, primary);
    seen = await waitFor('the primary postmaster to start', 300_000, 10, async () => {
      const pids = await pidsWhere(cwdIs(watchedDir));
      return pids.length ? pids : undefined;
    });
  } else {
    watchedDir = dataDirOf(spec, replica);
    seen = await waitFor('the replica clone to start', 300_000, 10, async () => {
      const pids = await pidsWhere(cloneInto(watchedDir));
      return pids.length ? pids : undefined;
    });
    await sleep(300); // well into the copy
  }
  // The worker that ran the command (its process tree); with one worker, that one.
  const current = (await workerAbove(seen, workers)) ?? (workers.length === 1 ? workers[0] : undefined);
  if (!current) throw new Error(`cannot tell which worker runs the ${point} step (pids ${seen.join(', ')})`);
  const killedAt = sigkill(current);
  const others = workers.filter((w) => w !== current);
  const next = mode === 'restart' ? spawnWorkerProcess(address) : undefined;
  say(
    `  resume ${point} (${mode}): worker ${current.pid} SIGKILLed, ` +
      (next ? `worker ${next.pid} spawned` : `worker ${others.map((w) => w.pid).join(', ')} already polling`),
  );
  const resumedFrom = next?.spawnedAt ?? killedAt;

  // What the interrupted work still had to do, measured on its own.
  const remaining =
    point === 'primary-start'
      ? waitFor('the primary to answer', 300_000, 10, async () =>
          (await whoAnswers(spec, primary)).state === 'ours' ? Date.now() : undefined,
        )
      : waitFor('the orphaned clone to exit', 600_000, 10, async () =>
          (await pidsWhere(cloneInto(watchedDir))).length ? undefined : Date.now(),
        );
  remaining.catch(() => {});

  const report = await Promise.race([
    result,
    sleep(15 * 60_000).then(() => {
      throw new Error(`recovery of ${spec.cluster} did not finish within 15 min after the worker restart`);
    }),
  ]);
  const remainingAt = await remaining.catch(() => undefined);
  const readyAt = next ? await next.ready.catch(() => undefined) : undefined;

  const ids = recoveryWorkflowIds(spec);
  const done = (await histories(client, ids, spec)).activities;
  const nextDone = done.find((c) => c.completedAt >= resumedFrom && c.activity !== 'notifyOperators');
  const interruptedActivity = point === 'primary-start' ? 'startNode' : 'buildNode';
  const interruptedWf = point === 'primary-start' ? handle.workflowId : `${handle.workflowId}/replica/${replica.name}`;
  const retried = done.find((c) => c.workflowId === interruptedWf && c.activity === interruptedActivity && c.completedAt >= killedAt);
  const pending = report.steps.find((s) => s.id === `${interruptedActivity}:${point === 'primary-start' ? primary.name : replica.name}`);

  const remainingMs = remainingAt === undefined ? undefined : remainingAt - killedAt;
  const latencyMs = (nextDone?.completedAt ?? NaN) - resumedFrom;
  const targetMs = remainingMs === undefined ? undefined : 5000 + remainingMs;
  const r: ResumeResult = {
    point,
    mode,
    lab: lab.id,
    interrupted: pending?.id ?? interruptedActivity,
    ranBeforeKillMs: pending?.startedAt ? killedAt - Date.parse(pending.startedAt) : undefined,
    remainingMs,
    workerStartMs: readyAt === undefined || !next ? undefined : readyAt - next.spawnedAt,
    killToRetryStartMs: retried ? retried.startedAt - killedAt : undefined,
    retryAttempt: retried?.attempt,
    latencyMs,
    interruptedDoneMs: retried ? retried.completedAt - resumedFrom : undefined,
    nextStep: nextDone ? `${nextDone.activity}${nextDone.node ? `:${nextDone.node}` : ''}` : 'none',
    targetMs,
    rtoMs: report.rtoMs,
    ok: targetMs === undefined || Number.isNaN(latencyMs) ? undefined : latencyMs <= targetMs,
  };
  // Two workers again for the next kill (this one's start is not measured).
  return { result: r, workers: [...others, next ?? spawnWorkerProcess(address)] };
}

export { stopWorkerProcess };
