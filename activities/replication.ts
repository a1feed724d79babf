// validateSlots and waitStreaming: the replication slots survived on shared storage, and each
// standby/replica streams through its own.
import { ApplicationFailure } from '@temporalio/common';
import type { ClusterSpec } from '../lib/model/spec.js';
import { nodeNamed, primaryOf } from '../lib/model/spec.js';
import type { Detailed, SlotDetails, StreamingDetails } from '../lib/model/report.js';
import { STREAMING_WAIT_SECONDS } from '../lib/model/steps.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { checkPrimary, onPrimary } from '../lib/primary.js';
import { failure } from '../lib/failures.js';
import { firstScheduledMs, heartbeat, sleep } from './heartbeat.js';
import { CREATE_SLOT_SQL, SLOTS_SQL, STREAMING_SQL, withParam } from '../lib/sql.js';

interface SlotRow {
  slot_name: string;
  slot_type: string;
  active: boolean;
  wal_status: string | null;
  restart_lsn: string | null;
}

export const createReplicationActivities = (deps: ActivityDeps) => ({
  /** Checks every expected slot: there, physical, WAL still reserved. `create` makes the missing ones. */
  async validateSlots(spec: ClusterSpec, create: boolean): Promise<Detailed<SlotDetails>> {
    const j = journalOf(deps);
    const expected = spec.slots.expected ?? [];
    return onPrimary(spec, 'validateSlots', firstScheduledMs(), async (db) => {
      const rows = (await db.query<SlotRow>(SLOTS_SQL)).rows;
      const problems: string[] = [];
      const missing: string[] = [];
      for (const name of expected) {
        const s = rows.find((r) => r.slot_name === name);
        if (!s) missing.push(name);
        else if (s.slot_type !== 'physical') problems.push(`slot ${name} is ${s.slot_type}, not physical`);
        else if (s.wal_status === 'lost')
          problems.push(`slot ${name} lost its WAL (wal_status = lost): its standby must be rebuilt from scratch`);
        else {
          j.verified.push(`slot ${name}: physical, wal_status ${s.wal_status}, restart_lsn ${s.restart_lsn}, active ${s.active}`);
          // Slots come back as old as the last checkpoint: one that became active after it has no
          // restart_lsn and reserves no WAL until its node reconnects. Nothing else flags it.
          if (s.restart_lsn === null) {
            const node = spec.nodes.find((n) => n.slot === name);
            j.warnings.push(
              `slot ${name}${node ? ` (${node.name}, ${node.role})` : ''} reserves no WAL (restart_lsn and wal_status NULL): ` +
                `until ${node ? node.name : 'its node'} streams again the primary may remove WAL it needs`,
            );
          }
        }
      }
      if (problems.length) throw failure('SlotMissing', problems.join('; '));
      if (missing.length && create) {
        for (const name of missing) {
          await db.query(CREATE_SLOT_SQL, [name]);
          j.ran(primaryOf(spec).name, withParam(CREATE_SLOT_SQL, name));
        }
        j.changed = true;
      } else if (missing.length && spec.slots.onMissing === 'fail') {
        throw failure('SlotMissing', `expected replication slots missing on the primary: ${missing.join(', ')}`);
      }
      return resultOf(j, { missing: create ? [] : missing, created: create ? missing : [] });
    });
  },

  /** Waits until the primary shows the node's slot streaming in pg_stat_replication. */
  async waitStreaming(spec: ClusterSpec, nodeName: string, limitMs = STREAMING_WAIT_SECONDS * 1000): Promise<Detailed<StreamingDetails>> {
    const node = nodeNamed(spec, nodeName);
    const j = journalOf(deps);
    const started = Date.now();
    for (;;) {
      const row = await onPrimary(spec, `waitStreaming ${node.name}`, firstScheduledMs(), async (db) =>
        (
          await db.query<{ state: string; application_name: string; sent_lsn: string; replay_lsn: string | null }>(STREAMING_SQL, [
            node.slot,
          ])
        ).rows.find((r) => r.state === 'streaming'),
      ).catch(async (err: unknown) => {
        if (err instanceof ApplicationFailure && (err.nonRetryable || err.type === 'PrimaryLost')) throw err;
        return undefined; // a passing fault: look again
      });
      if (row) {
        j.verified.push(
          `${node.name} streams through slot ${node.slot} as ${row.application_name} (sent ${row.sent_lsn}, replayed ${row.replay_lsn})`,
        );
        return resultOf(j, { waitedMs: Date.now() - started });
      }
      if (Date.now() - started > limitMs) {
        await checkPrimary(spec, `waitStreaming ${node.name}`, firstScheduledMs());
        throw failure('CommandFailed', `${node.name} is not streaming from the primary after ${limitMs / 1000} s`);
      }
      heartbeat({ waitingMs: Date.now() - started });
      await sleep(100);
    }
  },
});
