// The worker as a separate process (`node --import tsx workers/worker.ts`), as it runs in
// production: tests kill it with SIGKILL (a crash, no goodbye to the server), pause it with
// SIGSTOP, and start new ones. Every process started here is tracked and killed by its PID in
// stopAllWorkers(), also when a test fails halfway.
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const live = new Set<WorkerProcess>();

export interface WorkerProcessOptions {
  /** host:port of the Temporal server. */
  address: string;
  /** POLAR_COMMAND_LOG: the JSONL file every acting command is appended to. */
  commandLog: string;
  /** The worker's stdout and stderr are appended here. */
  outputFile: string;
}

export class WorkerProcess {
  readonly pid: number;
  /** Date.now() when the process was spawned. */
  readonly spawnedAt = Date.now();
  /** Resolves with the ms from spawn until the worker polls its task queue. */
  readonly ready: Promise<number>;
  private readonly child: ResultPromise;
  private exitedFlag = false;

  constructor(o: WorkerProcessOptions) {
    const env: Record<string, string | undefined> = {
      ...process.env,
      TEMPORAL_ADDRESS: o.address,
      POLAR_COMMAND_LOG: o.commandLog,
      // Not a child of the test runner: its own plain process.
      NODE_TEST_CONTEXT: undefined,
      POLAR_CLUSTERS_DIR: undefined,
      POLAR_NOTIFY_URLS_FILE: undefined,
    };
    this.child = execa(process.execPath, ['--import', 'tsx', 'workers/worker.ts'], {
      cwd: repo,
      env,
      extendEnv: false,
      reject: false,
      buffer: false,
      stdin: 'ignore',
      // Killed with the test process if the test process dies (SIGTERM from execa's cleanup).
      cleanup: true,
    });
    if (this.child.pid === undefined) throw new Error('the worker process did not start');
    this.pid = this.child.pid;
    live.add(this);
    void this.child.then(() => {
      this.exitedFlag = true;
      live.delete(this);
    });
    this.ready = new Promise<number>((resolve, reject) => {
      const onData = (d: Buffer) => {
        const text = String(d);
        appendFileSync(o.outputFile, text);
        if (/polling task queue/.test(text)) resolve(Date.now() - this.spawnedAt);
      };
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', (d: Buffer) => appendFileSync(o.outputFile, String(d)));
      void this.child.then((r) =>
        reject(new Error(`worker ${this.pid} exited before it polled (${r.exitCode ?? r.signal}); see ${o.outputFile}`)),
      );
    });
    this.ready.catch(() => {}); // observed by whoever awaits it
  }

  get exited(): boolean {
    return this.exitedFlag;
  }

  /** SIGKILL (a crash: no shutdown, no goodbye), then waits until the process is gone. */
  async kill(): Promise<void> {
    if (this.exitedFlag) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    await this.child;
  }

  /** SIGSTOP: the worker stops dead where it is (its child processes run on). */
  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    if (!this.exitedFlag) process.kill(this.pid, 'SIGCONT');
  }

  /** Graceful stop (SIGTERM: the worker drains and exits); SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exitedFlag) return;
    this.resume();
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => void this.kill().catch(() => {}), graceMs);
    await this.child;
    clearTimeout(timer);
  }
}

export function spawnWorker(o: WorkerProcessOptions): WorkerProcess {
  return new WorkerProcess(o);
}

/** Kills every worker process this module started that is still alive (by PID). */
export async function stopAllWorkers(): Promise<void> {
  await Promise.all(
    [...live].map(async (w) => {
      try {
        w.resume();
      } catch {
        // gone already
      }
      await w.kill();
    }),
  );
}
