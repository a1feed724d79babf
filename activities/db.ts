// Database checks go through `pg`, with the password read here from the file or env the spec
// names: it never travels through workflow inputs or histories.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { ClusterSpec, NodeSpec } from '../common/spec.js';

export function passwordOf(spec: ClusterSpec): string | undefined {
  const c = spec.connection;
  if (c.passwordFile) return readFileSync(c.passwordFile, 'utf8').trim();
  if (c.passwordEnv) return process.env[c.passwordEnv];
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

export type Presence = { state: 'down'; detail: string } | { state: 'ours'; inRecovery: boolean } | { state: 'foreign'; detail: string };

/** Who answers on a node's address and port: nobody, this node (its config file), or something else. */
export async function whoAnswers(spec: ClusterSpec, node: NodeSpec): Promise<Presence> {
  try {
    return await withDb(spec, node, async (db) => {
      const r = await db.query<{ config_file: string; in_recovery: boolean }>(
        `select current_setting('config_file') as config_file, pg_is_in_recovery() as in_recovery`,
      );
      const row = r.rows[0]!;
      if (row.config_file !== `${node.localDir}/postgresql.conf`)
        return { state: 'foreign', detail: `a PostgreSQL with config ${row.config_file} answers on ${node.address}:${node.port}` };
      return { state: 'ours', inRecovery: row.in_recovery };
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Nothing listens, or a postmaster that is starting or stopping (57P03 cannot_connect_now).
    if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', '57P03'].includes(e.code ?? '') || /timeout expired/i.test(e.message))
      return { state: 'down', detail: `${node.address}:${node.port}: ${e.code ?? e.message}` };
    return { state: 'foreign', detail: `something answers on ${node.address}:${node.port} but not as this node (${e.message})` };
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
