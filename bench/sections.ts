// The benchmark's sections. Each builds its own labs (fresh, wrecked by the disaster, neither
// timed), measures, and destroys them again, also when a recovery fails.
import type { Client } from '@temporalio/client';
import { withDb } from '../lib/db.js';
import type { RecoveryReport } from '../lib/model/report.js';
import { nodesOf, primaryOf } from '../lib/model/spec.js';
import { dropLab, freshWreckedLab, wreckAgain, type BenchLab } from './labs.js';
import { executionsAsSteps, histories, recoveryWorkflowIds } from './history.js';
import { recoverRaw } from './raw.js';
import { resumeOnce, type KillPoint, type ResumeMode, type ResumeResult } from './resume.js';
import { analyse, durations, timeline, type StepAnalysis } from './steps.js';
import { load as loadNow } from './machine.js';
import { sec } from './stats.js';
import { recoverViaWorkflow, spawnWorkerProcess, stopWorkerProcess, type Recovered, type WorkerProcess } from './temporal.js';

export type Say = (l: string) => void;

export interface Ctx {
  client: Client;
  address: string;
  say: Say;
}

/** A recovery that did not finish must not keep acting on a lab that is about to be destroyed. */
async function terminateIfRunning(client: Client, workflowId: string): Promise<void> {
  try {
    const h = client.workflow.getHandle(workflowId);
    if ((await h.describe()).status.name === 'RUNNING') await h.terminate('benchmark cleanup');
  } catch {
    /* never started */
  }
}

async function withLab<T>(ctx: Ctx, lab: BenchLab, fn: (lab: BenchLab) => Promise<T>): Promise<T> {
  try {
    return await fn(lab);
  } finally {
    await terminateIfRunning(ctx.client, `recover/${lab.spec.cluster}`);
    await dropLab(lab);
  }
}

const viaWorkflow = async (ctx: Ctx, lab: BenchLab): Promise<Recovered> => {
  const r = await recoverViaWorkflow(ctx.client, lab);
  if (r.report.outcome !== 'recovered') throw new Error(`recovery of ${lab.id} ended ${r.report.outcome}`);
  return r;
};

const analyseReport = (lab: BenchLab, r: RecoveryReport): StepAnalysis =>
  analyse(lab.spec, r.steps, Date.parse(r.startedAt), Date.parse(r.endedAt));

// ---- 1 + 2: overhead and step breakdown ----

export interface OverheadRun {
  mode: 'a' | 'b';
  lab: string;
  wallMs: number;
  rtoMs: number;
  /** From the step records (b: as the workflow saw them, queueing included). */
  analysis: StepAnalysis;
  steps: Record<string, number>;
  /** Of the wall time, how long no activity was executing (b: execution times from the history). */
  idleMs: number;
  /** b only: per-hop latencies from the history. */
  hops?: { activities: number; activityQueueMs: number[]; workflowTasks: number; workflowTaskMs: number[] };
}

export async function overhead(ctx: Ctx, runs: number, serialA = false): Promise<{ warmupMs: number; runs: OverheadRun[] }> {
  ctx.say('overhead: warm-up recovery through recoverCluster (not counted)');
  const warm = await withLab(ctx, await freshWreckedLab({ replicas: 1 }), (lab) => viaWorkflow(ctx, lab));
  ctx.say(`  warm-up: ${sec(warm.wallMs)}`);
  const out: OverheadRun[] = [];
  for (let i = 1; i <= runs; i++) {
    for (const mode of ['a', 'b'] as const) {
      const lab = await freshWreckedLab({ replicas: 1 });
      const run = await withLab(ctx, lab, async (): Promise<OverheadRun> => {
        if (mode === 'a') {
          const r = await recoverRaw(lab.spec, `bench-raw/${lab.id}`, serialA);
          const analysis = analyse(lab.spec, r.steps, r.startedAt, r.endedAt);
          const idleMs = analyse(lab.spec, r.steps, r.startedAt, r.startedAt + r.wallMs).gapMs;
          return { mode, lab: lab.id, wallMs: r.wallMs, rtoMs: analysis.rtoMs, analysis, steps: durations(r.steps), idleMs };
        }
        const r = await viaWorkflow(ctx, lab);
        const h = await histories(ctx.client, recoveryWorkflowIds(lab.spec), lab.spec);
        const idleMs = analyse(lab.spec, executionsAsSteps(h.activities), r.startedAt, r.startedAt + r.wallMs).gapMs;
        return {
          mode,
          lab: lab.id,
          wallMs: r.wallMs,
          rtoMs: r.report.rtoMs,
          analysis: analyseReport(lab, r.report),
          steps: durations(r.report.steps),
          idleMs,
          hops: {
            activities: h.activities.length,
            activityQueueMs: h.activities.map((x) => x.startedAt - x.scheduledAt),
            workflowTasks: h.workflowTasks.length,
            workflowTaskMs: h.workflowTasks.map((x) => x.completedAt - x.scheduledAt),
          },
        };
      });
      out.push(run);
      ctx.say(
        `  overhead ${mode}#${i} (${lab.id}): wall ${sec(run.wallMs)}, RTO ${sec(run.rtoMs)}, no activity executing ${sec(run.idleMs)}`,
      );
    }
  }
  return { warmupMs: warm.wallMs, runs: out };
}

// ---- 3: replica fan-out ----

export interface FanoutRun {
  replicas: number;
  lab: string;
  rtoMs: number;
  wallMs: number;
  cloneMaxMs: number;
  timeline: [string, number, number][];
  /** The plain script (bench/raw.ts: the same activities, the same clones in parallel) on a twin lab: what orchestration adds. */
  plainRtoMs?: number;
}

export async function fanout(ctx: Ctx, counts: number[], reps: number): Promise<FanoutRun[]> {
  const out: FanoutRun[] = [];
  for (let i = 1; i <= reps; i++) {
    for (const replicas of counts) {
      const plainLab = await freshWreckedLab({ replicas });
      const plain = await withLab(ctx, plainLab, () => recoverRaw(plainLab.spec, `bench-raw/${plainLab.id}`));
      const plainRtoMs = analyse(plainLab.spec, plain.steps, plain.startedAt, plain.endedAt).rtoMs;
      const lab = await freshWreckedLab({ replicas });
      const r = await withLab(ctx, lab, () => viaWorkflow(ctx, lab));
      const clones = r.report.steps.filter((s) => s.step === 'buildNode' && nodesOf(lab.spec, 'replica').some((n) => n.name === s.node));
      const run = {
        replicas,
        lab: lab.id,
        rtoMs: r.report.rtoMs,
        wallMs: r.wallMs,
        cloneMaxMs: Math.max(...clones.map((s) => s.durationMs ?? 0)),
        timeline: timeline(r.report.steps, Date.parse(r.report.startedAt)),
        plainRtoMs,
      };
      out.push(run);
      ctx.say(
        `  fan-out ${replicas} replica(s) #${i} (${lab.id}): RTO ${sec(run.rtoMs)}, plain script ${sec(plainRtoMs)}, slowest clone ${sec(run.cloneMaxMs)}`,
      );
    }
  }
  return out;
}

// ---- 4: concurrent recoveries on one worker ----

export interface ConcurrencyRun {
  labs: number;
  wallMs: number;
  rtoMs: number[];
  failed: string[];
}

export async function concurrency(ctx: Ctx, counts: number[]): Promise<ConcurrencyRun[]> {
  const out: ConcurrencyRun[] = [];
  for (const n of counts) {
    ctx.say(`concurrency: building ${n} lab(s), one after the other`);
    const labs: BenchLab[] = [];
    try {
      for (let i = 0; i < n; i++) labs.push(await freshWreckedLab({ replicas: 1 }));
      ctx.say(`  ${n} lab(s) ready; recovering all at once`);
      const t0 = Date.now();
      const settled = await Promise.allSettled(labs.map((lab) => viaWorkflow(ctx, lab)));
      const wallMs = Date.now() - t0;
      const rtoMs = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.report.rtoMs] : []));
      const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${labs[i]!.id}: ${(s.reason as Error).message}`] : []));
      out.push({ labs: n, wallMs, rtoMs, failed });
      ctx.say(
        `  ${n} concurrent: wall ${sec(wallMs)}, ${rtoMs.length}/${n} recovered${failed.length ? `; FAILED: ${failed.join('; ')}` : ''}`,
      );
    } finally {
      for (const lab of labs) await terminateIfRunning(ctx.client, `recover/${lab.spec.cluster}`);
      for (const lab of labs) await dropLab(lab);
    }
  }
  return out;
}

// ---- 6: data size ----

export interface DataRun {
  dataMb: number;
  lab: string;
  rtoMs: number;
  /** buildNode + startNode of the primary. */
  primaryRebuildMs: number;
  cloneMs: number;
  catchUpMs: number;
  verifyMs: number;
  /** pg_database_size after the recovery. */
  dbMb: number;
}

export async function dataSize(ctx: Ctx, sizes: number[], reps: number): Promise<{ runs: DataRun[]; createMs: Record<number, number> }> {
  const labs = new Map<number, BenchLab>();
  const runs: DataRun[] = [];
  const createMs: Record<number, number> = {};
  try {
    for (const mb of sizes) {
      ctx.say(`data size: building a lab with ${mb} MB of data`);
      const lab = await freshWreckedLab({ replicas: 1, dataMb: mb });
      labs.set(mb, lab);
      createMs[mb] = lab.createMs;
      ctx.say(`  ${lab.id}: built in ${sec(lab.createMs)}`);
    }
    // The same lab wrecked again for each repetition: building 1 GB again would take a minute each.
    for (let i = 1; i <= reps; i++) {
      for (const mb of sizes) {
        const lab = labs.get(mb)!;
        if (i > 1) await wreckAgain(lab);
        const r = await viaWorkflow(ctx, lab);
        await terminateIfRunning(ctx.client, `recover/${lab.spec.cluster}`);
        const d = (id: string) => r.report.steps.find((s) => s.id === id)?.durationMs ?? NaN;
        const dbBytes = await withDb(lab.spec, primaryOf(lab.spec), async (db) =>
          Number((await db.query<{ b: string }>('select pg_database_size(current_database())::text as b')).rows[0]!.b),
        );
        const primary = primaryOf(lab.spec).name;
        const replica = nodesOf(lab.spec, 'replica')[0]!.name;
        const run: DataRun = {
          dataMb: mb,
          lab: lab.id,
          rtoMs: r.report.rtoMs,
          primaryRebuildMs: d(`buildNode:${primary}`) + d(`startNode:${primary}`),
          cloneMs: d(`buildNode:${replica}`),
          catchUpMs: d(`waitStreaming:${replica}`),
          verifyMs: d('verifyData'),
          dbMb: Math.round(dbBytes / 1024 / 1024),
        };
        runs.push(run);
        ctx.say(
          `  ${mb} MB #${i}: RTO ${sec(run.rtoMs)}, primary rebuild ${sec(run.primaryRebuildMs)}, replica clone ${sec(run.cloneMs)}, verify ${sec(run.verifyMs)}`,
        );
      }
    }
  } finally {
    for (const lab of labs.values()) {
      await terminateIfRunning(ctx.client, `recover/${lab.spec.cluster}`);
      await dropLab(lab);
    }
  }
  return { runs, createMs };
}

// ---- 5: resume after SIGKILL ----

export async function resume(
  ctx: Ctx,
  points: { point: KillPoint; dataMb?: number }[],
  reps: number,
  modes: ResumeMode[] = ['restart', 'second-worker'],
): Promise<ResumeResult[]> {
  const out: ResumeResult[] = [];
  let workers: WorkerProcess[] = [];
  try {
    for (const mode of modes) {
      // `restart`: one worker, replaced after the kill; `second-worker`: two, as docker-compose.yml runs them.
      const want = mode === 'restart' ? 1 : 2;
      while (workers.length > want) await stopWorkerProcess(workers.pop()!);
      while (workers.length < want) workers.push(spawnWorkerProcess(ctx.address));
      for (const w of workers) {
        const readyAt = await w.ready;
        ctx.say(`resume (${mode}): worker process ${w.pid} polling after ${sec(readyAt - w.spawnedAt)}`);
      }
      for (let i = 1; i <= reps; i++) {
        for (const { point, dataMb } of points) {
          const lab = await freshWreckedLab({ replicas: 1, ...(dataMb ? { dataMb } : {}) });
          const r = await withLab(ctx, lab, async () => {
            const got = await resumeOnce(ctx.client, ctx.address, lab, point, workers, ctx.say, mode);
            workers = got.workers;
            return got.result;
          });
          out.push(r);
          ctx.say(
            `  resume ${point} (${mode}) #${i}: kill -> retry start ${sec(r.killToRetryStartMs ?? NaN)} (attempt ${r.retryAttempt}), ` +
              `-> next step done ${sec(r.latencyMs)} (${r.nextStep}), -> ${r.interrupted} done ${sec(r.interruptedDoneMs ?? NaN)}; ` +
              `ran ${sec(r.ranBeforeKillMs ?? NaN)} before the kill; worker start ${r.workerStartMs === undefined ? '-' : sec(r.workerStartMs)}, remaining ${sec(r.remainingMs ?? NaN)}`,
          );
          // The replacement must be up before the next kill (it may be the one that will be killed).
          for (const w of workers) await w.ready;
        }
      }
    }
  } finally {
    for (const w of workers) await stopWorkerProcess(w);
  }
  return out;
}

// ---- 7: worker cold start ----

export interface ColdStart {
  /** Spawn (`node dist/workers/worker.js`) -> its line saying the pollers started (state RUNNING), seen by the bench. */
  wallMs: number;
  /** The same as the worker itself measures it: from its process's start (node's own included). */
  selfReportedMs?: number;
  /** CPU the process had used by then (user + system, every thread): what a quiet core must spend at least. */
  cpuMs?: number;
  load: string;
}

/**
 * The compiled worker with its prebuilt workflow bundle, started `n` times one after the other
 * against the bench's dev server, nothing else running: spawn -> polling, then stopped again.
 */
export async function coldStart(ctx: Ctx, n: number): Promise<ColdStart[]> {
  const out: ColdStart[] = [];
  for (let i = 1; i <= n; i++) {
    const load = loadNow();
    const w = spawnWorkerProcess(ctx.address);
    try {
      const at = await w.ready;
      out.push({ wallMs: at - w.spawnedAt, selfReportedMs: w.selfReportedMs, cpuMs: w.cpuMs, load });
      ctx.say(
        `  cold start #${i}: ${sec(at - w.spawnedAt)} (the worker says ${w.selfReportedMs ?? '?'} ms; CPU ${w.cpuMs ?? '?'} ms; load ${load})`,
      );
    } finally {
      await stopWorkerProcess(w);
    }
  }
  return out;
}
