// Database checks go through `pg`, with the password read here from the file or env the spec
// names: it never travels through workflow inputs or histories.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { ClusterSpec, NodeSpec } from './model/spec.js';
import { failure } from './failures.js';
import { profileOf } from './profiles/index.js';

/** The password the spec references; a missing or unreadable one is its own failure, never a port conflict. */
export function passwordOf(spec: ClusterSpec): string | undefined {
  const c = spec.connection;
  if (c.passwordFile) {
    try {
      return readFileSync(c.passwordFile, 'utf8').trim();
    } catch (err) {
      throw failure('SecretUnavailable', `cannot read connection.passwordFile ${c.passwordFile} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  if (c.passwordEnv) {
    const v = process.env[c.passwordEnv];
    if (v === undefined)
      throw failure('SecretUnavailable', `connection.passwordEnv names ${c.passwordEnv}, which the worker's environment lacks`);
    return v;
  }
  return undefined;
}

export async function withDb<T>(spec: ClusterSpec, node: NodeSpec, fn: (db: pg.Client) => Promise<T>, timeoutMs = 5000): Promise<T> {
  const db = new pg.Client({
    host: node.address,
    port: node.port,
    user: spec.connection.user,
    database: spec.connection.database,
    password: passwordOf(spec),
    connectionTimeoutMillis: timeoutMs,
    application_name: 'polar-runbook',
  });
  db.on('error', () => {}); // a server going away mid-check surfaces as the query's own error
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => {});
  }
}

/**
 * Who answers on a node's address and port. Only `down` (refused, unreachable) says nothing is
 * there; a timeout or a refused login says something is there that we cannot name (`unknown`).
 */
export type Presence =
  | { state: 'down'; detail: string }
  | { state: 'starting'; detail: string }
  | { state: 'ours'; inRecovery: boolean }
  | { state: 'foreign'; what: 'postgres' | 'not-postgres'; detail: string }
  | { state: 'unknown'; detail: string };

const DOWN_CODES = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', 'EADDRNOTAVAIL'];
/** cannot_connect_now, admin_shutdown, crash_shutdown: a postmaster starting or stopping. */
const STARTING_CODES = ['57P03', '57P01', '57P02'];
const AUTH_CODES = ['28P01', '28000'];
const isSqlState = (code: string | undefined): boolean => /^[0-9A-Z]{5}$/.test(code ?? '');

/** Who answers on a node's address and port, as precisely as the answer allows. */
export async function whoAnswers(spec: ClusterSpec, node: NodeSpec): Promise<Presence> {
  const at = `${node.address}:${node.port}`;
  passwordOf(spec); // a missing secret is SecretUnavailable, not something answering
  try {
    return await withDb(spec, node, async (db) => {
      const r = await db.query<{ config_file: string; in_recovery: boolean }>(
        `select current_setting('config_file') as config_file, pg_is_in_recovery() as in_recovery`,
      );
      const row = r.rows[0]!;
      if (row.config_file !== profileOf(spec).configFile(spec, node))
        return { state: 'foreign', what: 'postgres', detail: `a PostgreSQL with config ${row.config_file} answers on ${at}` };
      return { state: 'ours', inRecovery: row.in_recovery };
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code;
    if (DOWN_CODES.includes(code ?? '')) return { state: 'down', detail: `${at}: ${code}` };
    if (STARTING_CODES.includes(code ?? ''))
      return { state: 'starting', detail: `${at}: a postmaster is starting or stopping (${e.message})` };
    if (code === 'ETIMEDOUT' || /timeout expired/i.test(e.message))
      return { state: 'unknown', detail: `${at}: something accepts connections but did not answer in time (${e.message})` };
    if (AUTH_CODES.includes(code ?? ''))
      return { state: 'unknown', detail: `${at}: a PostgreSQL answers but refused our login, so it cannot be told apart (${e.message})` };
    if (isSqlState(code))
      return { state: 'foreign', what: 'postgres', detail: `a PostgreSQL answers on ${at} but not as this node (${e.message})` };
    return { state: 'foreign', what: 'not-postgres', detail: `something that is not PostgreSQL answers on ${at} (${e.message})` };
  }
}

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface TablePrint {
  rows: number;
  checksum: string;
}
export type Fingerprint = Record<string, TablePrint>;

/** Row count and an order-independent checksum of every row, per table. */
export async function fingerprint(db: pg.Client, tables: string[]): Promise<Fingerprint> {
  const out: Fingerprint = {};
  for (const t of tables) {
    const r = await db.query<{ rows: string; checksum: string }>(
      `select count(*)::text as rows, coalesce(md5(string_agg(h, '' order by h)), '') as checksum
         from (select md5(x::text) as h from ${quoteIdent(t)} x) s`,
    );
    out[t] = { rows: Number(r.rows[0]!.rows), checksum: r.rows[0]!.checksum };
  }
  return out;
}
