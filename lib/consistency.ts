// The checks that catch a torn or stale copy: the drill's marker row (written on production
// before the copy, so a point-in-time copy must hold it), amcheck on the verified tables
// (verify_heapam, bt_index_check with heapallindexed), and the operator's invariants. Each
// returns problems with their numbers; verifyData turns any into a CopyInconsistent failure.
import type pg from 'pg';
import type { ClusterSpec } from './model/spec.js';
import { quoteIdent } from './db.js';
import type { Journal, Progress } from './ops.js';
import { DRILL_MARKER_INSERT_SQL, PROBE_TABLE } from './sql.js';

export interface CheckOutcome {
  /** What failed, each with its numbers: `<check>: <what>`. */
  problems: string[];
  details: Record<string, unknown>;
}

const errText = (err: unknown): string => {
  const e = err as { code?: string; message?: string };
  return `${e.message ?? String(err)}${e.code ? ` (SQLSTATE ${e.code})` : ''}`;
};

/** Keeps reporting progress while a long statement runs. */
async function beating<T>(progress: Progress, what: string, p: Promise<T>): Promise<T> {
  const t = setInterval(() => progress.beat({ checking: what }), 5000);
  try {
    return await p;
  } finally {
    clearInterval(t);
  }
}

/**
 * On the production primary, before the copy: a committed, flushed row `id` in the probe table.
 * The LSN returned is the WAL flush position right after the commit: the commit record lies
 * before it and on disk, so every point-in-time copy taken afterwards holds it. (The write
 * position, pg_current_wal_lsn(), may run ahead of what is flushed.) No extension, only the
 * probe table the recoveries use.
 */
export async function writeDrillMarker(db: pg.Client, id: string): Promise<{ id: string; lsn: string; writtenAt: string }> {
  await db.query(`create table if not exists ${PROBE_TABLE} (id text primary key, written_at timestamptz not null default now())`);
  await db.query('begin');
  try {
    // Whatever the server's setting: this commit returns only once its WAL is flushed.
    await db.query(`set local synchronous_commit = 'local'`);
    await db.query(DRILL_MARKER_INSERT_SQL, [id]);
    await db.query('commit');
  } catch (err) {
    await db.query('rollback').catch(() => {});
    throw err;
  }
  const r = await db.query<{ lsn: string; written_at: Date }>(
    `select pg_current_wal_flush_lsn()::text as lsn, (select written_at from ${PROBE_TABLE} where id = $1) as written_at`,
    [id],
  );
  return { id, lsn: r.rows[0]!.lsn, writtenAt: new Date(r.rows[0]!.written_at).toISOString() };
}

/**
 * The recovered copy holds the drill's marker row. (Its WAL position is shown, not compared: by
 * the time verify runs the sandbox has written its own WAL, replicas' clones switched segments.)
 */
export async function checkDrillMarker(db: pg.Client, marker: { id: string; lsn: string }, j: Journal): Promise<CheckOutcome> {
  const r = await db.query<{ has_table: boolean }>(`select to_regclass($1) is not null as has_table`, [PROBE_TABLE]);
  const found = r.rows[0]!.has_table
    ? ((await db.query(`select 1 from ${PROBE_TABLE} where id = $1`, [marker.id])).rowCount ?? 0) > 0
    : false;
  const lsn = (await db.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`)).rows[0]!.lsn;
  const problems: string[] = [];
  if (!found)
    problems.push(
      `drill marker: the row ${marker.id} written on production before the copy (flushed at ${marker.lsn}) is not in the copy: the copy is older than the drill or torn`,
    );
  else j.verified.push(`drill marker ${marker.id} is in the copy (flushed on production at ${marker.lsn}; the sandbox's WAL is at ${lsn})`);
  return { problems, details: { drillMarker: { ...marker, found, sandboxLsn: lsn } } };
}

/**
 * amcheck on the tables: verify_heapam (every corrupt tuple counted) and bt_index_check with
 * heapallindexed on each valid btree index. The extension is created only where `mayCreate`
 * (a drill's sandbox); elsewhere it runs only if the database already has it. A check that hits
 * the time limit proves nothing either way: noted, not failed.
 */
export async function runAmcheck(db: pg.Client, spec: ClusterSpec, mayCreate: boolean, j: Journal): Promise<CheckOutcome> {
  const tables = spec.verify.tables;
  const out: CheckOutcome = { problems: [], details: {} };
  if (spec.verify.amcheck === 'off' || !tables.length) return out;
  const ext = (
    await db.query<{ installed: boolean; available: boolean }>(
      `select exists (select 1 from pg_extension where extname = 'amcheck') as installed,
              exists (select 1 from pg_available_extensions where name = 'amcheck') as available`,
    )
  ).rows[0]!;
  if (!ext.installed) {
    if (!ext.available) {
      j.skipped.push('amcheck: the extension is not available on this server (postgresql contrib): not run');
      out.details.amcheck = 'unavailable';
      return out;
    }
    if (!mayCreate) {
      j.skipped.push('amcheck: the extension is not created in this database, and a recovery never creates one: not run');
      out.details.amcheck = 'not installed';
      return out;
    }
    await db.query('create extension if not exists amcheck');
    j.ran('primary', 'create extension if not exists amcheck (in the sandbox)');
  }
  const limitMs = spec.verify.amcheckTimeoutSeconds * 1000;
  await db.query(`set statement_timeout = ${limitMs}`);
  const perTable: Record<string, { heapProblems: number; indexes: Record<string, string> }> = {};
  const timedOut = (err: unknown) => (err as { code?: string }).code === '57014';
  try {
    for (const t of tables) {
      const rel = quoteIdent(t);
      const entry = { heapProblems: 0, indexes: {} as Record<string, string> };
      perTable[t] = entry;
      try {
        const r = await beating(
          j.progress,
          `verify_heapam ${t}`,
          db.query<{ blkno: string; offnum: number; attnum: number; msg: string }>(
            `select blkno::text, offnum, attnum, msg from verify_heapam($1::regclass, on_error_stop => false, check_toast => true)`,
            [rel],
          ),
        );
        entry.heapProblems = r.rowCount ?? 0;
        if (entry.heapProblems) {
          const first = r.rows
            .slice(0, 3)
            .map((x) => `block ${x.blkno} offset ${x.offnum ?? '-'}: ${x.msg}`)
            .join('; ');
          out.problems.push(`amcheck verify_heapam(${t}): ${entry.heapProblems} corrupt tuple(s), e.g. ${first}`);
        }
      } catch (err) {
        if (timedOut(err)) j.skipped.push(`amcheck verify_heapam(${t}) hit its ${spec.verify.amcheckTimeoutSeconds} s limit: not proven`);
        else out.problems.push(`amcheck verify_heapam(${t}): ${errText(err)}`);
      }
      const idx = await db.query<{ idx: string }>(
        `select c.oid::regclass::text as idx
           from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
          where i.indrelid = $1::regclass and a.amname = 'btree' and i.indisvalid and i.indisready
          order by 1`,
        [rel],
      );
      for (const { idx: name } of idx.rows) {
        try {
          await beating(j.progress, `bt_index_check ${name}`, db.query(`select bt_index_check($1::regclass, true)`, [name]));
          entry.indexes[name] = 'ok';
        } catch (err) {
          if (timedOut(err)) {
            entry.indexes[name] = 'timed out';
            j.skipped.push(`amcheck bt_index_check(${name}) hit its ${spec.verify.amcheckTimeoutSeconds} s limit: not proven`);
          } else {
            entry.indexes[name] = errText(err);
            out.problems.push(`amcheck bt_index_check(${name}, heapallindexed): ${errText(err)}`);
          }
        }
      }
    }
  } finally {
    await db.query('reset statement_timeout').catch(() => {});
  }
  const clean = Object.entries(perTable).filter(([, e]) => !e.heapProblems && Object.values(e.indexes).every((v) => v === 'ok'));
  if (clean.length)
    j.verified.push(
      `amcheck clean: ${clean.map(([t, e]) => `${t} (heap${Object.keys(e.indexes).length ? `, ${Object.keys(e.indexes).join(', ')}` : ''})`).join(', ')}`,
    );
  out.details.amcheck = perTable;
  return out;
}

/** The spec's invariants, each read-only with the amcheck time limit: one row whose first column is true. */
export async function checkInvariants(db: pg.Client, spec: ClusterSpec, j: Journal): Promise<CheckOutcome> {
  const out: CheckOutcome = { problems: [], details: {} };
  const results: { name: string; ok: boolean; values: Record<string, unknown> }[] = [];
  for (const inv of spec.verify.invariants) {
    let values: Record<string, unknown> = {};
    let ok = false;
    let error: string | undefined;
    await db.query('begin read only');
    try {
      await db.query(`set local statement_timeout = ${spec.verify.amcheckTimeoutSeconds * 1000}`);
      const r = await beating(j.progress, `invariant ${inv.name}`, db.query({ text: inv.sql, rowMode: 'array' }));
      const names = r.fields.map((f) => f.name);
      if (r.rows.length !== 1 || !names.length) error = `returned ${r.rows.length} row(s), not one`;
      else {
        const row = r.rows[0] as unknown[];
        values = Object.fromEntries(names.map((n, i) => [n, row[i]]));
        ok = row[0] === true;
        if (typeof row[0] !== 'boolean') error = `its first column ${names[0]} is ${JSON.stringify(row[0])}, not a boolean`;
      }
    } catch (err) {
      error = errText(err);
    } finally {
      await db.query('rollback').catch(() => {});
    }
    results.push({ name: inv.name, ok: ok && !error, values });
    const shown = Object.entries(values)
      .map(([k, v]) => `${k}=${v === null ? 'null' : String(v)}`)
      .join(', ');
    if (error) out.problems.push(`invariant "${inv.name}": ${error}`);
    else if (!ok) out.problems.push(`invariant "${inv.name}" does not hold: ${shown}`);
    else j.verified.push(`invariant "${inv.name}" holds (${shown})`);
  }
  if (results.length) out.details.invariants = results;
  return out;
}
