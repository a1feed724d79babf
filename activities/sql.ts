// The SQL the activities run, in one place: plans print these very strings (with $1 shown as the
// value), so a plan cannot drift from what a recovery does.
export const SLOTS_SQL = 'select slot_name, slot_type, active, wal_status, restart_lsn::text from pg_replication_slots';
export const CREATE_SLOT_SQL = 'select pg_create_physical_replication_slot($1, true)';
export const STREAMING_SQL = 'select state, sent_lsn::text, replay_lsn::text from pg_stat_replication where application_name = $1';
export const TABLES_SQL = `select relname from pg_class where relkind in ('r','p') and relname = any($1)`;
export const PROBE_TABLE = 'polar_runbook_probe';
export const PROBE_INSERT_SQL = `insert into ${PROBE_TABLE} (id) values ($1) on conflict (id) do nothing`;

/** The statement with its one parameter written in, for plans and reports. */
export const withParam = (sql: string, value: string): string => sql.replace('$1', `'${value.replace(/'/g, "''")}'`);
/** A drill's marker row, written on the production primary before the copy is taken. */
export const DRILL_MARKER_INSERT_SQL = `insert into ${PROBE_TABLE} (id) values ($1) on conflict (id) do nothing`;
