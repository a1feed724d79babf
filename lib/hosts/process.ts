// Where every command a transport runs is started: a small helper process beside the worker, not
// the worker itself. Starting a process forks the process that starts it, and a fork copies its
// page tables: from the worker (350 MB resident in the bench) each start blocked its event loop,
// and with it every workflow task and step, for 9 ms (median; 16 ms p90); from the helper (a bare
// Node with execa, about 50 MB) it costs about 1.5 ms, and not on the worker's thread.
// `npm run bench -- --only polardb` measured it.
import { spawn, type ChildProcess } from 'node:child_process';

/** Everything a command we start sees of an environment (a transport adds its client's few variables). */
export const COMMAND_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LC_ALL: 'C',
};

export interface ProcessOptions {
  input?: string;
  env: Record<string, string>;
  /** Killed (SIGKILL) after this long: `timedOut` in the result. */
  timeoutMs?: number;
  /** A process group of its own, so a cancel can end the whole tree. */
  detached?: boolean;
  /** Output not captured: a daemon the command leaves behind would hold our pipe open. */
  discardOutput?: boolean;
}

export interface ProcessResult {
  /** Undefined when the process could not be started (`failure` says why) or died of a signal. */
  exitCode?: number;
  /** The signal it died of. */
  signal?: string;
  stdout: string;
  /** Undefined when not captured (discardOutput) or when the process could not be started. */
  stderr?: string;
  timedOut: boolean;
  /** execa's own words when the process failed (did not start, exited non-zero, timed out). */
  failure?: string;
}

export interface Started {
  result: Promise<ProcessResult>;
  /** Signals the process, or its whole group (detached only); nothing once it has ended. */
  kill(signal: NodeJS.Signals, group?: boolean): void;
}

/**
 * The helper: runs each request with execa (options as the transports used to pass them), answers
 * with the result; exits when the worker goes (its IPC channel closes). What it started keeps
 * running then, as it did when the worker started it itself. A constant: requests are messages.
 */
const HELPER = `
const { execa } = await import(process.argv[1]);
const running = new Map();
process.on('message', (m) => {
  if (m.kill !== undefined) {
    const child = running.get(m.kill);
    try {
      if (child && m.group && child.pid) process.kill(-child.pid, m.signal);
      else if (child) child.kill(m.signal);
    } catch {}
    return;
  }
  const o = m.options;
  const child = execa(m.file, m.args, {
    reject: false,
    ...(o.input === undefined ? { stdin: 'ignore' } : { input: o.input }),
    stdout: o.discardOutput ? 'ignore' : 'pipe',
    stderr: o.discardOutput ? 'ignore' : 'pipe',
    ...(o.timeoutMs === undefined ? {} : { timeout: o.timeoutMs, killSignal: 'SIGKILL' }),
    cleanup: false,
    detached: o.detached === true,
    extendEnv: false,
    env: o.env,
  });
  running.set(m.id, child);
  child.then((r) => {
    running.delete(m.id);
    process.send({
      id: m.id,
      exitCode: r.exitCode,
      signal: r.signal,
      stdout: typeof r.stdout === 'string' ? r.stdout : '',
      stderr: typeof r.stderr === 'string' ? r.stderr : undefined,
      timedOut: r.timedOut === true,
      failure: r.failed ? String(r.originalMessage ?? r.message) : undefined,
    });
  });
});
process.on('disconnect', () => process.exit(0));
`;

let helper: ChildProcess | undefined;
const pending = new Map<number, { resolve: (r: ProcessResult) => void; reject: (err: Error) => void }>();
let lastId = 0;

/** The helper, started at the first command; its channel holds this process open only while commands run. */
function theHelper(): ChildProcess {
  if (helper?.connected) return helper;
  const h = spawn(process.execPath, ['--input-type=module', '-e', HELPER, import.meta.resolve('execa')], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...COMMAND_ENV },
  });
  h.on('message', (m: ProcessResult & { id: number }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (!pending.size) h.channel?.unref();
    p.resolve({ exitCode: m.exitCode, signal: m.signal, stdout: m.stdout, stderr: m.stderr, timedOut: m.timedOut, failure: m.failure });
  });
  const lost = (why: string) => {
    if (helper === h) helper = undefined;
    for (const [id, p] of pending) {
      pending.delete(id);
      p.reject(new Error(`the command helper ${why}: the command's outcome is unknown`));
    }
  };
  h.on('exit', (code, signal) => lost(`exited (${signal ?? `code ${code}`})`));
  h.on('error', (err) => lost(`failed: ${err.message}`));
  h.unref();
  h.channel?.unref();
  helper = h;
  return h;
}

/** Starts `file` with `args` (an argument array: no shell) in the helper. */
export function startProcess(file: string, args: string[], options: ProcessOptions): Started {
  const h = theHelper();
  const id = ++lastId;
  const result = new Promise<ProcessResult>((resolve, reject) => pending.set(id, { resolve, reject }));
  if (pending.size === 1) h.channel?.ref();
  h.send({ id, file, args, options }, (err) => {
    if (!err) return;
    pending.get(id)?.reject(new Error(`the command helper did not take ${file}: ${err.message}`));
    pending.delete(id);
  });
  return {
    result,
    kill(signal, group = false) {
      if (pending.has(id) && h.connected) h.send({ kill: id, signal, group });
    },
  };
}
