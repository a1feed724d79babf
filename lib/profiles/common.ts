// Pieces both profiles render the same way.
import type { ClusterSpec, NodeSpec } from '../model/spec.js';
import type { Cmd } from '../hosts/types.js';
import { binDir, type Check, type Op, type Probe } from './types.js';

const T = 30_000;
export const MARKER_FILE = '.polar-runbook';

export const test = (...args: string[]): Probe => ({ argv: ['test', ...args], as: 'root' });

/** The first op on a local dir: create it, owned by the database user, 0700. */
export const makeLocalDir = (node: NodeSpec): Op => ({
  kind: 'run',
  title: `create local dir ${node.localDir}`,
  cmd: { argv: ['mkdir', '-m', '0700', node.localDir], as: 'db', timeoutMs: T },
  skipIf: test('-d', node.localDir),
});

/** Creates an empty marker file (replica.signal, standby.signal) unless it is there. */
export const touchOnce = (title: string, path: string): Op => ({
  kind: 'run',
  title,
  cmd: { argv: ['touch', path], as: 'db', timeoutMs: T },
  skipIf: test('-f', path),
});

/** Our mark on a local dir: a later run may continue in it; a dir without it is not ours. */
export const markLocalDir = (spec: ClusterSpec, node: NodeSpec): Op => ({
  kind: 'file',
  title: 'mark the local dir as built by polar-runbook',
  path: `${node.localDir}/${MARKER_FILE}`,
  content: `cluster=${spec.cluster}\nnode=${node.name}\n`,
  owner: 'db',
  mode: '0600',
});

/** Binaries from shared storage: copied (to a temp name, then renamed: no half copy is ever used) or linked. */
export function binariesOps(spec: ClusterSpec): Op[] {
  const { dir, source, install } = spec.binaries;
  if (install === 'installed' || !source) return [];
  if (install === 'symlink')
    return [
      {
        kind: 'run',
        title: 'link the binaries',
        cmd: { argv: ['ln', '-s', source, dir], as: 'db', timeoutMs: T },
        skipIf: test('-e', dir),
      },
    ];
  return [
    {
      kind: 'run',
      title: 'copy the binaries',
      cmd: { argv: ['cp', '-r', source, `${dir}.partial`], as: 'db', timeoutMs: 30 * 60_000 },
      skipIf: test('-e', dir),
    },
    {
      kind: 'run',
      title: 'put the copy in place',
      cmd: { argv: ['mv', `${dir}.partial`, dir], as: 'db', timeoutMs: T },
      skipIf: test('-e', dir),
    },
  ];
}

export const binariesCheck = (spec: ClusterSpec): Check => ({
  cmd: { argv: [`${binDir(spec)}/psql`, '--version'], as: 'db', timeoutMs: T },
  failure: 'BinariesMissing',
  problem: (r) =>
    r.exitCode === 0 && /PostgreSQL/.test(r.stdout) ? undefined : `${binDir(spec)}/psql --version failed: ${(r.stderr || r.stdout).trim()}`,
});

/**
 * Prints the PIDs of `postgres` processes whose working directory is `dir`: a postmaster and its
 * children run in their data directory. (Not `pg_ctl status`: it trusts the PID in a stale
 * postmaster.pid, and after a crash that PID may be a zombie or an unrelated process; and not
 * any process: an operator's shell may sit in that directory.) The script is constant; `dir` is
 * its argument.
 */
const POSTGRES_IN_DIR =
  'find /proc -maxdepth 2 -path "/proc/[0-9]*/cwd" -lname "$0" 2>/dev/null | while read -r c; do ' +
  'p=${c%/cwd}; [ "$(cat "$p/comm" 2>/dev/null)" = postgres ] && echo "${p#/proc/}"; done; true';

export const processesInDir = (dir: string): Cmd => ({ argv: ['sh', '-c', POSTGRES_IN_DIR, dir], as: 'root', timeoutMs: T });

/** Exits 0 when a postmaster (or what is left of one) runs in `dir`. */
export const postmasterRunsIn = (dir: string): Probe => ({
  argv: ['sh', '-c', `(${POSTGRES_IN_DIR}) | grep -q .`, dir],
  as: 'root',
  label: `a postgres process runs in ${dir}`,
});

/** Both profiles keep the server's config in the node's local dir. */
export const localConfigFile = (_spec: ClusterSpec, node: NodeSpec): string => `${node.localDir}/postgresql.conf`;

export const quoteConf = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** primary_conninfo of a node that streams from the primary. */
export const primaryConninfo = (spec: ClusterSpec, primary: NodeSpec, node: NodeSpec): string =>
  `host=${primary.address} port=${primary.port} user=${spec.replication.user} dbname=${spec.connection.database} application_name=${node.slot}`;

/**
 * `pg_ctl promote -W -D <local dir>`, the same for both profiles (for postgres pg_ctl finds the
 * data directory through the config in the local dir). -W: promote writes a whole new WAL segment
 * (1 GB on PolarDB, 87 s seen) and pg_ctl's own wait would run out; the activity polls
 * pg_is_in_recovery() instead. Skipped while a promote is already requested (its signal file is
 * in the data directory until the server acts on it): a retry never signals a second promote.
 */
export const promoteOp = (spec: ClusterSpec, node: NodeSpec, dataDir: string): Op => ({
  kind: 'run',
  title: `promote ${node.name}`,
  cmd: { argv: [`${binDir(spec)}/pg_ctl`, 'promote', '-W', '-D', node.localDir], as: 'db', timeoutMs: 5 * 60_000 },
  skipIf: { ...test('-f', `${dataDir}/promote`), label: `a promote is already requested (${dataDir}/promote exists)` },
});
