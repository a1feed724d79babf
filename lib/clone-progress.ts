// Live progress of a replica's clone (postgres profile: pg_basebackup of the recovered primary):
// while the clone runs, twice a second the size of the target dir (`du -sb`, WAL excluded, on the replica's host)
// against the primary's databases (sum of pg_database_size), heartbeated as
// { phase: 'clone', node, bytesDone, bytesTotal }. `follow` and the Web UI's pending activity show it.
// The clone itself is not touched: a probe that fails only skips that beat.
import type { ClusterSpec, NodeSpec } from './model/spec.js';
import { buildNeedsPrimary, primaryOf } from './model/spec.js';
import { withDb } from './db.js';
import type { Host } from './hosts/types.js';
import type { Progress } from './ops.js';

export interface CloneProgress {
  phase: 'clone';
  node: string;
  bytesDone: number;
  bytesTotal?: number;
  sinceMs: number;
}

/** Bytes under `dir` on `host` but its WAL (0 while it does not exist yet). */
export async function dirBytes(host: Host, dir: string): Promise<number> {
  const r = await host.run({ argv: ['du', '-sb', '--exclude=pg_wal', '--', dir], as: 'root', timeoutMs: 10_000 });
  const n = Number(/^(\d+)/.exec(r.stdout)?.[1]);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Runs `fn` (the build of `node`); when the build reads from the primary (a clone), reports the
 * clone's progress into `target` every `everyMs` while it runs.
 */
export async function withCloneProgress<T>(
  spec: ClusterSpec,
  node: NodeSpec,
  host: Host,
  target: string,
  progress: Progress,
  fn: () => Promise<T>,
  everyMs = 500,
): Promise<T> {
  if (!buildNeedsPrimary(spec, node)) return fn();
  const started = Date.now();
  let done = false;
  // What pg_basebackup copies besides WAL: the databases (the WAL it streams is left out of both sides).
  const total = withDb(spec, primaryOf(spec), async (db) => {
    const r = await db.query<{ bytes: string }>('select sum(pg_database_size(datname))::bigint as bytes from pg_database');
    return Number(r.rows[0]!.bytes);
  }).catch(() => undefined);
  // The build's end wakes the poller from its wait: the step ends with the clone, not up to
  // `everyMs` later (half a second on every replica's critical path, 0.25 s on average).
  let wake = () => {};
  const nap = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
  const poll = (async () => {
    // The first beat early: an activity's first heartbeat reaches the server at once, later ones each second.
    for (let first = true; !done; first = false) {
      await nap(first ? Math.min(200, everyMs) : everyMs);
      if (done) break;
      const bytesDone = await dirBytes(host, target).catch(() => undefined);
      if (bytesDone === undefined || done) continue;
      const bytesTotal = await total;
      const p: CloneProgress = { phase: 'clone', node: node.name, bytesDone, sinceMs: Date.now() - started };
      if (bytesTotal !== undefined) p.bytesTotal = bytesTotal;
      progress.beat(p);
    }
  })();
  try {
    return await fn();
  } finally {
    done = true;
    wake();
    await poll;
  }
}
