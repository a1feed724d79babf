// The benchmark's Temporal side: one dev server for the whole run, an in-process worker (warm,
// for the overhead, fan-out, concurrency and data-size sections), worker processes for the resume
// section (spawned and killed by PID), and a recovery through recoverCluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { RecoveryReport } from '../lib/model/report.js';
import type { Lab } from '../lab/lab.js';
import { startDevServer, type DevServer } from '../scripts/dev-server.js';
import { createWorker, workflowBundleFile } from '../workers/create-worker.js';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface BenchTemporal {
  server: DevServer;
  client: Client;
  connection: NativeConnection;
  clientConnection: Connection;
}

export async function startTemporal(): Promise<BenchTemporal> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startDevServer();
  try {
    const connection = await NativeConnection.connect({ address: server.address });
    const clientConnection = await Connection.connect({ address: server.address });
    return { server, connection, clientConnection, client: new Client({ connection: clientConnection }) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

export async function stopTemporal(t: BenchTemporal): Promise<void> {
  await t.clientConnection.close().catch(() => {});
  await t.connection.close().catch(() => {});
  await t.server.stop();
}

export interface InProcessWorker {
  worker: Worker;
  createMs: number;
  stop(): Promise<void>;
}

/** createWorker (the production options) on the bench's dev server, running in this process. */
export async function startInProcessWorker(t: BenchTemporal): Promise<InProcessWorker> {
  const t0 = Date.now();
  const worker = await createWorker({ connection: t.connection });
  const createMs = Date.now() - t0;
  const running = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    worker,
    createMs,
    stop() {
      stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => {});
      })();
      return stopped;
    },
  };
}

export interface Recovered {
  report: RecoveryReport;
  handle: WorkflowHandle;
  /** Client side: from the start call to the result in hand. */
  wallMs: number;
  startedAt: number;
}

export async function recoverViaWorkflow(client: Client, lab: Lab): Promise<Recovered> {
  const startedAt = Date.now();
  const { handle } = await startOrAttachRecovery(client, lab.spec.cluster, { spec: lab.spec, trigger: 'drill' });
  const report = (await handle.result()) as RecoveryReport;
  return { report, handle, wallMs: Date.now() - startedAt, startedAt };
}

// ---- worker processes (resume section) ----

export interface WorkerProcess {
  pid: number;
  spawnedAt: number;
  /** Resolves with the time the process printed that it polls the task queue (its pollers started: state RUNNING). */
  ready: Promise<number>;
  /** Once ready: what the worker itself says, from its process's start (node's own) to polling. */
  selfReportedMs?: number;
  /** Once ready: CPU time (user + system, all threads) the process had used. */
  cpuMs?: number;
  exited: Promise<number | null>;
  child: ChildProcess;
}

const procs = new Map<number, WorkerProcess>();
let logDir: string | undefined;
let logStream: WriteStream | undefined;

/** Where the worker processes' output goes (one file for all of them). */
export function workerLogFile(): string {
  logDir ??= mkdtempSync(join(tmpdir(), 'polar-bench-'));
  return join(logDir, 'workers.log');
}

/**
 * The compiled worker with its prebuilt workflow bundle (`npm run build`), as the image and
 * docker-compose.yml run it: `node dist/workers/worker.js` with TEMPORAL_ADDRESS.
 */
export function spawnWorkerProcess(address: string): WorkerProcess {
  logStream ??= createWriteStream(workerLogFile(), { flags: 'a' });
  const spawnedAt = Date.now();
  if (!existsSync(workflowBundleFile)) throw new Error(`${workflowBundleFile} is missing: run npm run build first (npm run bench does)`);
  const child = spawn(process.execPath, ['dist/workers/worker.js'], {
    cwd: repoRoot,
    env: { ...process.env, TEMPORAL_ADDRESS: address },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a Ctrl-C in the terminal reaches us, and we stop it by its PID.
    detached: true,
  });
  const pid = child.pid!;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      logStream!.write(`[${pid}] ${d}`);
      buf += d.toString();
      const polling = /polling task queue.*?(?:\((\d+) ms after the process started\))?\n/.exec(buf);
      if (polling && wp.cpuMs === undefined) {
        const at = Date.now();
        wp.cpuMs = cpuMsOf(pid);
        wp.selfReportedMs = polling[1] === undefined ? undefined : Number(polling[1]);
        resolve(at);
      }
    });
    child.stderr!.on('data', (d: Buffer) => logStream!.write(`[${pid} err] ${d}`));
    void exited.then((code) => reject(new Error(`worker process ${pid} exited (${code}) before polling; see ${workerLogFile()}`)));
  });
  ready.catch(() => {});
  const wp: WorkerProcess = { pid, spawnedAt, ready, exited, child };
  procs.set(pid, wp);
  void exited.then(() => procs.delete(pid));
  return wp;
}

/** utime + stime of a process (all its threads), from /proc; clock ticks are 100 Hz on Linux. */
function cpuMsOf(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

export function sigkill(wp: WorkerProcess): number {
  const at = Date.now();
  try {
    process.kill(wp.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  return at;
}

/** SIGTERM (the worker shuts down gracefully), SIGKILL after `graceMs`; by PID only. */
export async function stopWorkerProcess(wp: WorkerProcess, graceMs = 10_000): Promise<void> {
  if (wp.child.exitCode !== null || wp.child.signalCode !== null) return;
  try {
    process.kill(wp.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(wp.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await wp.exited;
  clearTimeout(timer);
}

export async function stopAllWorkerProcesses(): Promise<void> {
  await Promise.all([...procs.values()].map((wp) => stopWorkerProcess(wp, 5000)));
  logStream?.end();
}

export const liveWorkerPids = (): number[] => [...procs.keys()];
