// Resume latency: the worker runs as its own process (`node --import tsx workers/worker.ts`), is
// SIGKILLed mid-recovery and restarted at once. Measured: from the new worker's spawn to the
// workflow's next completed step (history event times), next to what the interrupted work itself
// still had to do (measured on the side: the primary answering / the orphaned clone finishing).
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { whoAnswers } from '../activities/db.js';
import { dataDirOf } from '../activities/profiles/postgres.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { RecoveryReport } from '../common/report.js';
import { nodesOf, primaryOf } from '../common/spec.js';
import type { Lab } from '../lab/lab.js';
import { histories, recoveryWorkflowIds } from './history.js';
import { sleep } from './stats.js';
import { sigkill, spawnWorkerProcess, stopWorkerProcess, type WorkerProcess } from './temporal.js';

export type KillPoint = 'primary-start' | 'replica-clone';

export interface ResumeResult {
  point: KillPoint;
  lab: string;
  /** The step that was running when the worker died. */
  interrupted: string;
  /** How long the interrupted activity had run when the worker was killed. */
  ranBeforeKillMs?: number;
  /** From the kill to the interrupted work being done by itself (primary answers / orphaned clone exits). */
  remainingMs?: number;
  /** New worker: spawn to polling the task queue (node + tsx + workflow bundle + connect). */
  workerStartMs?: number;
  /** Kill to the retry attempt starting on the new worker (heartbeat timeout + retry backoff + poll). */
  killToRetryStartMs?: number;
  retryAttempt?: number;
  /** The headline: new worker spawned -> the workflow's next completed step (any step: the branches run in parallel). */
  latencyMs: number;
  /** New worker spawned -> the interrupted step itself completed. */
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

/**
 * One kill-and-restart on a wrecked lab. `current` is the worker process that will run the
 * recovery until it is killed; returns the replacement (still running) with the result.
 */
export async function resumeOnce(
  client: Client,
  address: string,
  lab: Lab,
  point: KillPoint,
  current: WorkerProcess,
  say: (l: string) => void,
): Promise<{ result: ResumeResult; worker: WorkerProcess }> {
  const spec = lab.spec;
  const primary = primaryOf(spec);
  const replica = nodesOf(spec, 'replica')[0]!;
  await current.ready;
  const { handle } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'drill' });
  const result = handle.result() as Promise<RecoveryReport>;
  result.catch(() => {});

  // The moment to kill: the primary's postmaster has just been launched by startNode, or the
  // replica's pg_basebackup is copying.
  let watchedDir: string;
  if (point === 'primary-start') {
    watchedDir = dataDirOf(spec, primary);
    await waitFor('the primary postmaster to start', 300_000, 10, async () =>
      (await pidsWhere(cwdIs(watchedDir))).length ? true : undefined,
    );
  } else {
    watchedDir = dataDirOf(spec, replica);
    await waitFor('the replica clone to start', 300_000, 10, async () =>
      (await pidsWhere(cloneInto(watchedDir))).length ? true : undefined,
    );
    await sleep(300); // well into the copy
  }
  const killedAt = sigkill(current);
  const next = spawnWorkerProcess(address);
  say(`  resume ${point}: worker ${current.pid} SIGKILLed, worker ${next.pid} spawned`);

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
  const readyAt = await next.ready.catch(() => undefined);

  const ids = recoveryWorkflowIds(spec);
  const done = (await histories(client, ids, spec)).activities;
  const nextDone = done.find((c) => c.completedAt >= next.spawnedAt && c.activity !== 'notifyOperators');
  const interruptedActivity = point === 'primary-start' ? 'startNode' : 'buildNode';
  const interruptedWf = point === 'primary-start' ? handle.workflowId : `${handle.workflowId}/replica/${replica.name}`;
  const retried = done.find((c) => c.workflowId === interruptedWf && c.activity === interruptedActivity && c.completedAt >= killedAt);
  const pending = report.steps.find((s) => s.id === `${interruptedActivity}:${point === 'primary-start' ? primary.name : replica.name}`);

  const remainingMs = remainingAt === undefined ? undefined : remainingAt - killedAt;
  const latencyMs = (nextDone?.completedAt ?? NaN) - next.spawnedAt;
  const targetMs = remainingMs === undefined ? undefined : 5000 + remainingMs;
  const r: ResumeResult = {
    point,
    lab: lab.id,
    interrupted: pending?.id ?? interruptedActivity,
    ranBeforeKillMs: pending?.startedAt ? killedAt - Date.parse(pending.startedAt) : undefined,
    remainingMs,
    workerStartMs: readyAt === undefined ? undefined : readyAt - next.spawnedAt,
    killToRetryStartMs: retried ? retried.startedAt - killedAt : undefined,
    retryAttempt: retried?.attempt,
    latencyMs,
    interruptedDoneMs: retried ? retried.completedAt - next.spawnedAt : undefined,
    nextStep: nextDone ? `${nextDone.activity}${nextDone.node ? `:${nextDone.node}` : ''}` : 'none',
    targetMs,
    rtoMs: report.rtoMs,
    ok: targetMs === undefined || Number.isNaN(latencyMs) ? undefined : latencyMs <= targetMs,
  };
  return { result: r, worker: next };
}

export { stopWorkerProcess };
