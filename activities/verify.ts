// verifyData: the expected tables are there, the data fingerprint recorded before the disaster
// matches, and a probe row written on the primary is read back on every replica and standby.
import { existsSync, readFileSync } from 'node:fs';
import type { ClusterSpec } from '../lib/model/spec.js';
import { primaryOf } from '../lib/model/spec.js';
import type { Detailed, VerifyDetails } from '../lib/model/report.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { fingerprint, withDb, type Fingerprint } from '../lib/db.js';
import { onPrimary } from '../lib/primary.js';
import { failure } from '../lib/failures.js';
import { firstScheduledMs, heartbeat, sleep } from './heartbeat.js';
import { checkDrillMarker, checkInvariants, runAmcheck } from '../lib/consistency.js';
import { PROBE_INSERT_SQL, PROBE_TABLE, TABLES_SQL, withParam } from '../lib/sql.js';

export const createVerifyActivities = (deps: ActivityDeps) => ({
  /**
   * `compareFingerprint`: only when this run brought the primary back. A primary that was already
   * serving may rightly have new rows since the fingerprint was taken.
   */
  async verifyData(spec: ClusterSpec, probeId: string, compareFingerprint: boolean): Promise<Detailed<VerifyDetails>> {
    const j = journalOf(deps);
    const primary = primaryOf(spec);
    const tables = spec.verify.tables;
    const details: VerifyDetails = {};
    await onPrimary(spec, 'verifyData', firstScheduledMs(), async (db) => {
      const found = (await db.query<{ relname: string }>(TABLES_SQL, [tables])).rows.map((r) => r.relname);
      const missing = tables.filter((t) => !found.includes(t));
      if (missing.length) throw failure('WrongCluster', `expected tables missing on the recovered primary: ${missing.join(', ')}`);
      if (tables.length) j.verified.push(`tables present: ${tables.join(', ')}`);

      const file = spec.verify.fingerprintFile;
      if (file && existsSync(file) && !compareFingerprint) {
        j.verified.push(`fingerprint ${file} not compared: the primary was already serving before this run`);
      } else if (file && existsSync(file)) {
        const before = (JSON.parse(readFileSync(file, 'utf8')) as { tables: Fingerprint }).tables;
        const after = await fingerprint(db, Object.keys(before));
        const diff = Object.keys(before).filter((t) => before[t]!.rows !== after[t]!.rows || before[t]!.checksum !== after[t]!.checksum);
        if (diff.length)
          throw failure(
            'WrongCluster',
            `data differs from the fingerprint recorded before the disaster in: ${diff.map((t) => `${t} (rows ${before[t]!.rows} -> ${after[t]!.rows})`).join(', ')}`,
          );
        j.verified.push(`fingerprint of ${Object.keys(before).length} tables matches ${file}`);
        details.fingerprint = after;
      }

      // A torn or stale copy: the drill's marker (before anything is written here), amcheck, the invariants.
      const problems: string[] = [];
      const marker = spec.verify.drillMarker;
      for (const check of [
        ...(marker ? [() => checkDrillMarker(db, marker, j)] : []),
        // Only a drill's sandbox may be given the extension; production never is.
        () => runAmcheck(db, spec, !!marker, j),
        () => checkInvariants(db, spec, j),
      ]) {
        const o = await check();
        problems.push(...o.problems);
        Object.assign(details, o.details);
      }
      if (problems.length)
        throw failure('CopyInconsistent', `the recovered data fails ${problems.length} check(s): ${problems.join('; ')}`);

      await db.query(`create table if not exists ${PROBE_TABLE} (id text primary key, written_at timestamptz not null default now())`);
      await db.query(PROBE_INSERT_SQL, [probeId]);
      j.ran(primary.name, withParam(PROBE_INSERT_SQL, probeId));
    });

    // Every node that streams must show the probe row within the bound.
    const seenAfterMs: Record<string, number> = {};
    const bound = spec.verify.probeTimeoutSeconds * 1000;
    for (const node of spec.nodes.filter((n) => n.role !== 'primary')) {
      const started = Date.now();
      for (;;) {
        const seen = await withDb(spec, node, async (db) => {
          const r = await db.query(`select 1 from ${PROBE_TABLE} where id = $1`, [probeId]).catch(() => ({ rowCount: 0 }));
          return (r.rowCount ?? 0) > 0;
        }).catch(() => false);
        if (seen) break;
        if (Date.now() - started > bound) throw failure('CommandFailed', `probe row not visible on ${node.name} after ${bound / 1000} s`);
        heartbeat({ waitingFor: node.name });
        await sleep(50);
      }
      seenAfterMs[node.name] = Date.now() - started;
      j.verified.push(`probe row ${probeId} visible on ${node.name} after ${seenAfterMs[node.name]} ms`);
    }
    details.probeVisibleAfterMs = seenAfterMs;
    return resultOf(j, details);
  },
});
