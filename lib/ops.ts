// Runs a profile's Ops on a host: check, act, and remember what ran. Running the same Ops twice
// is the same as once: every op first looks whether its effect is there.
import { MARKER_BEGIN, MARKER_END, type Check, type Op, type Probe } from './profiles/types.js';
import { renderCmd, type Cmd, type CmdResult, type Host } from './hosts/types.js';
import { failure } from './failures.js';
import { permanentCause } from './model/failures.js';

/**
 * How long-running library code says what it is waiting for, and waits. The activity adapter
 * passes its heartbeat and its cancellable sleep; the lab, tests and scripts get `quietly`.
 */
export interface Progress {
  beat(details: unknown): void;
  sleep(ms: number): Promise<void>;
}

export const quietly: Progress = { beat: () => {}, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** What a step did on its hosts: for the report and the command log; and its live progress. */
export class Journal {
  readonly commands: string[] = [];
  readonly skipped: string[] = [];
  readonly verified: string[] = [];
  /** What works but needs an operator's eye (a slot that reserves no WAL). */
  readonly warnings: string[] = [];
  changed = false;
  /** `sink` sees every command that acts (not the probes): the command log of a worker. */
  constructor(
    private readonly sink?: (host: string, command: string) => void,
    readonly progress: Progress = quietly,
  ) {}

  ran(host: string, command: string): void {
    this.commands.push(`${host}: ${command}`);
    this.sink?.(host, command);
  }

  /** A journal of its own for a step run inside this one: the same command log and progress. */
  inner(): Journal {
    return new Journal(this.sink, this.progress);
  }
}

/**
 * A read started beside others, settled: calling the result gives its value or throws what it
 * threw, so the caller names causes in its own order, not in the order they came back.
 */
export const settle = <T>(p: Promise<T>): Promise<() => T> =>
  p.then(
    (v) => () => v,
    (err: unknown) => () => {
      throw err;
    },
  );

export async function probe(host: Host, p: Probe): Promise<boolean> {
  return (await host.run({ ...p, timeoutMs: 30_000 })).exitCode === 0;
}

/** Runs a command that must succeed; the error names the host, the command and its stderr. */
export async function must(host: Host, cmd: Cmd, journal?: Journal): Promise<CmdResult> {
  const line = renderCmd(cmd, host.dbUser);
  journal?.ran(host.name, line);
  const r = await host.run(cmd);
  if (r.exitCode === 0) return r;
  const out = (r.stderr || r.stdout).trim().slice(-800);
  const why = r.timedOut ? `timed out after ${cmd.timeoutMs} ms` : `exit ${r.exitCode}: ${out}`;
  // The OS's own words say when no retry can help (no space, read-only, a missing binary).
  const type = r.timedOut ? undefined : (permanentCause(out) ?? (r.exitCode === 127 ? 'BinariesMissing' : undefined));
  throw failure(type ?? 'CommandFailed', `on ${host.name}: ${line} failed (${why})`);
}

/** Text of our block as it appears in a file. */
export const renderBlock = (block: string): string => `${MARKER_BEGIN}\n${block.trimEnd()}\n${MARKER_END}\n`;

/** The file's own text with our block (if any) removed, then our block appended. */
export function withBlock(current: string, block: string): string {
  const start = current.indexOf(MARKER_BEGIN);
  let own = current;
  if (start >= 0) {
    const end = current.indexOf(MARKER_END, start);
    own = current.slice(0, start) + (end >= 0 ? current.slice(end + MARKER_END.length).replace(/^\n/, '') : '');
  }
  own = own.trimEnd();
  return `${own}${own ? '\n\n' : ''}${renderBlock(block)}`;
}

async function readFile(host: Host, path: string, as: Cmd['as']): Promise<string | undefined> {
  const r = await host.run({ argv: ['cat', '--', path], as, timeoutMs: 30_000 });
  return r.exitCode === 0 ? r.stdout + '\n' : undefined; // execa strips the final newline
}

async function writeFile(host: Host, path: string, content: string, as: Cmd['as'], journal: Journal): Promise<void> {
  // tee as the owner, so the file gets the owner's uid; the content travels on stdin, not argv.
  await must(host, { argv: ['tee', '--', path], as, input: content, timeoutMs: 30_000 }, journal);
}

/**
 * Probes asked before runOps, beside other reads (`askEarly`): runOps takes the answer instead of
 * asking again. Only for an op nothing the caller does in between can make or undo.
 */
export type AskedEarly = Map<Op, Promise<boolean>>;

export function askEarly(host: Host, ops: Op[]): AskedEarly {
  const asked: AskedEarly = new Map();
  for (const op of ops) {
    if (op.kind !== 'run' || !op.skipIf) continue;
    const answer = probe(host, op.skipIf);
    answer.catch(() => {}); // thrown where runOps awaits it, or never when the caller stops first
    asked.set(op, answer);
  }
  return asked;
}

async function runOp(host: Host, op: Extract<Op, { kind: 'run' }>, journal: Journal, asked?: Promise<boolean>): Promise<void> {
  if (op.skipIf && (await (asked ?? probe(host, op.skipIf)))) {
    journal.skipped.push(`${host.name}: ${op.title} (already done)`);
    return;
  }
  try {
    // Journaled (and in the worker's command log) before it runs: a worker killed meanwhile leaves its trace.
    await must(host, op.cmd, journal);
  } catch (err) {
    // Lost a race, or a retry after a crash: if the effect is there now, it is done.
    if (op.skipIf && (await probe(host, op.skipIf))) return;
    throw err;
  }
  journal.changed = true;
}

type FileOp = Extract<Op, { kind: 'file' | 'block' }>;

/** The file's text as the op wants it; undefined when it already is. */
function wantedText(host: Host, op: FileOp, current: string | undefined): string | undefined {
  if (op.kind === 'block' && current === undefined)
    throw failure('CommandFailed', `on ${host.name}: ${op.path} does not exist, cannot add our settings to it`);
  const wanted = op.kind === 'file' ? op.content : withBlock(current!, op.block);
  return current !== undefined && normalise(current) === normalise(wanted) ? undefined : wanted;
}

/**
 * Files of consecutive ops, each a different path: all read at once, then those that differ all
 * written at once (one file's op never reads another's). Outcomes are taken in the ops' order.
 */
async function writeFiles(host: Host, ops: FileOp[], journal: Journal): Promise<void> {
  const read = await Promise.all(ops.map((op) => settle(readFile(host, op.path, op.owner))));
  const wanted = ops.map((op, i) => wantedText(host, op, read[i]!()));
  const written = await Promise.all(
    ops.map((op, i) =>
      settle(
        (async () => {
          if (wanted[i] === undefined) return;
          const inner = journal.inner();
          await writeFile(host, op.path, wanted[i], op.owner, inner);
          if (op.kind === 'file') await must(host, { argv: ['chmod', op.mode, op.path], as: op.owner, timeoutMs: 30_000 }, inner);
          return inner;
        })(),
      ),
    ),
  );
  for (const [i, op] of ops.entries()) {
    const inner = written[i]!();
    if (!inner) {
      journal.skipped.push(`${host.name}: ${op.title} (already as rendered)`);
      continue;
    }
    journal.commands.push(...inner.commands);
    journal.changed = true;
  }
}

/** Consecutive file ops on different paths, from `i` on (at least the op at `i`). */
function fileGroup(ops: Op[], i: number): FileOp[] {
  const group: FileOp[] = [];
  for (const op of ops.slice(i)) {
    if ((op.kind !== 'file' && op.kind !== 'block') || group.some((g) => g.path === op.path)) break;
    group.push(op);
  }
  return group;
}

/** `asked`: probes the caller asked early (askEarly), for ops nothing did anything to since. */
export async function runOps(host: Host, ops: Op[], journal: Journal, asked?: AskedEarly): Promise<void> {
  for (let i = 0; i < ops.length;) {
    const op = ops[i]!;
    switch (op.kind) {
      case 'run':
        await runOp(host, op, journal, asked?.get(op));
        i++;
        break;
      case 'require':
        if (!(await probe(host, op.probe))) throw failure(op.failure, `on ${host.name}: ${op.message}`);
        journal.verified.push(`${host.name}: ${op.title}`);
        i++;
        break;
      case 'file':
      case 'block': {
        const group = fileGroup(ops, i);
        await writeFiles(host, group, journal);
        i += group.length;
        break;
      }
    }
  }
}

const normalise = (s: string): string => s.replace(/\n+$/, '\n');

/** Runs a check; throws the check's typed failure when it reports a problem. */
export async function runCheck(host: Host, check: Check, journal: Journal): Promise<void> {
  const r = await host.run(check.cmd);
  const problem = check.problem(r);
  if (problem) throw failure(check.failure, `on ${host.name}: ${problem}`);
  journal.verified.push(`${host.name}: ${renderCmd(check.cmd, host.dbUser)} ok`);
}
