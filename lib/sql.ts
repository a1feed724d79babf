// The SQL the activities run, in one place: plans print these very strings (with $1 shown as the
// value), so a plan cannot drift from what a recovery does.
export const SLOTS_SQL = 'select slot_name, slot_type, active, wal_status, restart_lsn::text from pg_replication_slots';
/**
 * A node's stream, found through its slot: the walsender whose pid is the slot's active_pid. Not by
 * application_name: a standby built with `polar_basebackup -R` streams as `walreceiver`.
 */
export const CREATE_SLOT_SQL = 'select pg_create_physical_replication_slot($1, true)';
export const STREAMING_SQL =
  'select r.state, r.application_name, r.sent_lsn::text, r.replay_lsn::text from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid where s.slot_name = $1';
export const TABLES_SQL = `select relname from pg_class where relkind in ('r','p') and relname = any($1)`;
export const PROBE_TABLE = 'polar_runbook_probe';
export const PROBE_INSERT_SQL = `insert into ${PROBE_TABLE} (id) values ($1) on conflict (id) do nothing`;

/** The statement with its one parameter written in, for plans and reports. */
export const withParam = (sql: string, value: string): string => sql.replace('$1', `'${value.replace(/'/g, "''")}'`);
/** A drill's marker row, written on the production primary before the copy is taken. */
export const DRILL_MARKER_INSERT_SQL = `insert into ${PROBE_TABLE} (id) values ($1) on conflict (id) do nothing`;
/** A standby's position: what it received and replayed, and when its last replayed transaction committed. */
export const STANDBY_POSITION_SQL =
  'select pg_is_in_recovery() as in_recovery, pg_last_wal_receive_lsn()::text as receive_lsn, pg_last_wal_replay_lsn()::text as replay_lsn, ' +
  'pg_last_xact_replay_timestamp() as last_xact, extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as age_s';
/** The timeline of a read-write node: pg_control_checkpoint() lags until the first checkpoint after a promote. */
export const TIMELINE_SQL = 'select pg_walfile_name(pg_current_wal_lsn()) as walfile, pg_current_wal_lsn()::text as lsn';
