// Stand-ins for the PolarDB-only tools (start_pfsd.sh/pfsdaemon, pfs, polar-initdb.sh, initdb,
// pg_ctl/postgres, psql) that behave as /work/shared/seed/POLARDB-NOTES.md describes and log every
// call (`<user> <tool> <args>`) to one file. Shared by test/polardb-standins.test.ts (every tool a
// stand-in) and the benchmark's polardb section (bench/polardb.ts), which asks for the real costs:
//   pfsdSleeps   start_pfsd.sh sleeps 1 s, as the real one does;
//   realPg       initdb is the real initdb of these PostgreSQL binaries (the throwaway template
//                initdb); pg_ctl/postgres run a real PostgreSQL, and polar-initdb.sh's replica
//                mode copies the skeleton (here: the whole data dir, minus configs) from the fake
//                PFS. PolarDB's split of configs (local dir) and data (shared) is emulated: the
//                local dir is the data dir; the postmaster reads a copy of the local
//                postgresql.conf without the PolarDB-only settings real PostgreSQL rejects, and a
//                database built by `realPgSetupSql` reports the local postgresql.conf as its
//                config_file, as a PolarDB node does.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ClusterSpecInput } from '../../lib/model/spec.js';

export interface StandinOptions {
  /** The temp root: pfsd/, shared/base/ (the binaries' source), pfs/<disk>/ (the fake PFS), run/. */
  root: string;
  /** Where every call is logged. */
  log: string;
  pfsdSleeps?: boolean;
  /** The real PostgreSQL binaries (Debian: /usr/lib/postgresql/15/bin). */
  realPg?: string;
}

/** The custom setting through which the emulated node reports its local postgresql.conf. */
export const CONFIG_FILE_GUC = 'polar_standin.config_file';

/**
 * Run once on the database that becomes the fake PFS's shared data: `current_setting('config_file')`
 * then answers the local dir's postgresql.conf (the path the stand-in postmaster was given), as a
 * PolarDB node does, although real PostgreSQL reads a filtered copy of it.
 */
export const realPgSetupSql = [
  `create function public.current_setting(text) returns text language sql stable as $$
     select case when $1 = 'config_file' then pg_catalog.current_setting('${CONFIG_FILE_GUC}') else pg_catalog.current_setting($1) end $$`,
  'alter role all set search_path = public, pg_catalog',
];

/** The stand-in scripts, by path below `root`. */
export function standinScripts(o: StandinOptions): Record<string, string> {
  const R = o.root;
  const log = (name: string) => `echo "$(id -un) ${name} $*" >> "${o.log}"`;
  const scripts: Record<string, string> = {
    'pfsd/bin/start_pfsd.sh': `#!/bin/sh
${log('start_pfsd.sh')}
disk=$2
running() { pgrep -af pfsdaemon | grep -w -- "$disk" | wc -l; }
if [ "$(running)" -ge 1 ]; then echo "$disk already exist"; exit 1; fi
BASE=$(cd "$(dirname "$0")"; pwd)
rm -f "${R}/run/pfsd_$disk.pid"
setsid "$BASE/../bin/pfsdaemon" "$@" -c "$BASE/../conf/pfsd_logger.conf" &
${o.pfsdSleeps ? 'sleep 1\n' : ''}for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -f "${R}/run/pfsd_$disk.pid" ] && break; sleep 0.1; done
if [ "$(running)" -eq 0 ]; then echo "pfsdaemon $disk start failed"; exit 1; fi
echo "pfsdaemon $disk start success"
`,
    // Keeps the caller's stdout/stderr open, like the real one.
    'pfsd/bin/pfsdaemon': `#!/bin/sh
${log('pfsdaemon')}
echo "pfsdaemon $* serving"
echo $$ > "${R}/run/pfsd_$2.pid"
while :; do sleep 1; done
`,
    // pfs -C <cluster> ls /<disk>/<path>: lists the fake disk ${R}/pfs/<disk>, only while its pfsd runs.
    'pfsd/bin/pfs': `#!/bin/sh
${log('pfs')}
[ "$1" = -C ] && [ "$3" = ls ] || { echo "usage: pfs -C <cluster> ls <path>" >&2; exit 1; }
disk=$(echo "$4" | cut -d/ -f2)
pgrep -f "/pfsdaemon -p $disk( |\\$)" > /dev/null || { echo "pfs: cannot connect to pfsd of $disk" >&2; exit 1; }
dir="${R}/pfs$4"
[ -d "$dir" ] || { echo "pfs: $4: No such file or directory" >&2; exit 1; }
for f in "$dir"/.[!.]* "$dir"/*; do
  [ -e "$f" ] || continue
  if [ -d "$f" ]; then printf '   Dir  1     1536              Tue Dec 24 09:52:24 2024  %s\\n' "$(basename "$f")"
  else printf '  File  1     4194304           Tue Dec 24 09:45:40 2024  %s\\n' "$(basename "$f")"; fi
done
echo "total 2105344 (unit: 512Bytes)"
`,
    'shared/base/bin/polar-initdb.sh': `#!/bin/sh
${log('polar-initdb.sh')}
[ $# -eq 3 ] || { echo "usage: polar-initdb.sh <local_dir>/ <shared_dir>/ <primary|replica>" >&2; exit 1; }
case "$3" in primary|replica) ;; *) echo "invalid node type" >&2; exit 1 ;; esac
[ -d "$1" ] || { echo "$1 does not exist" >&2; exit 1; }
shared="${R}/pfs$2"
if [ "$3" = primary ]; then
  [ -z "$(ls -A "$shared" 2>/dev/null)" ] || { echo "$2 dir not empty"; exit 1; }
  echo "primary mode is not part of this stand-in" >&2; exit 1
fi
[ -f "$shared/PG_VERSION" ] || { echo "$2 has no PG_VERSION" >&2; exit 1; }
${
  o.realPg
    ? `# The emulated node's data: the shared data dir's files, its configs and pid file left out.
(cd "$shared" && tar --exclude='./*.conf' --exclude=./postmaster.pid --exclude=./postmaster.opts -cf - .) | (cd "$1" && tar -xf -) || exit 1
mkdir -p "$1/pg_log"`
    : `for d in "$shared"/base/*; do mkdir -p "$1/base/$(basename "$d")"; done
mkdir -p "$1/global" "$1/pg_log"
cp "$shared/PG_VERSION" "$1/PG_VERSION"`
}
echo "init $1 from $2 done"
`,
    'shared/base/bin/initdb': o.realPg
      ? `#!/bin/sh
${log('initdb')}
exec "${o.realPg}/initdb" "$@"
`
      : `#!/bin/sh
${log('initdb')}
[ "$1" = --version ] && { echo "initdb (PostgreSQL) 15.8"; exit 0; }
[ "$1" = -D ] && [ $# -eq 2 ] || { echo "usage: initdb -D <dir>" >&2; exit 1; }
if [ -n "$(ls -A "$2" 2>/dev/null)" ]; then echo "initdb: error: directory \\"$2\\" exists but is not empty" >&2; exit 1; fi
mkdir -p "$2" && chmod 700 "$2" && mkdir "$2/base" || exit 1
for f in pg_hba.conf pg_ident.conf polar_settings.conf postgresql.conf postgresql.auto.conf; do echo "# $f written by initdb" > "$2/$f"; done
`,
    // pg_ctl start waits until the postmaster says it is ready (postmaster.pid's status line), as pg_ctl -w does.
    'shared/base/bin/pg_ctl': `#!/bin/sh
${log('pg_ctl')}
[ "$2" = -D ] && [ $# -eq 3 ] || { echo "usage: pg_ctl start|status -D <dir>" >&2; exit 1; }
pid=$(head -1 "$3/postmaster.pid" 2>/dev/null)
case "$1" in
  status)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "pg_ctl: server is running (PID: $pid)"; exit 0; fi
    echo "pg_ctl: no server running"; exit 3 ;;
  start)
    rm -f "$3/postmaster.pid"
    echo "waiting for server to start...."
    setsid "$(dirname "$0")/postgres" -D "$3" &
${
  o.realPg
    ? `    for i in $(seq 600); do
      case "$(sed -n 8p "$3/postmaster.pid" 2>/dev/null)" in ready*|standby*) echo " done"; echo "server started"; exit 0 ;; esac
      kill -0 $! 2>/dev/null || { echo " stopped waiting"; echo "pg_ctl: could not start server" >&2; exit 1; }
      sleep 0.05
    done
    echo "pg_ctl: server did not start in time" >&2; exit 1 ;;`
    : `    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -f "$3/postmaster.pid" ] && break; sleep 0.1; done
    echo " done"; echo "server started" ;;`
}
  *) exit 1 ;;
esac
`,
    // The postmaster: runs in its -D dir and keeps pg_ctl's stdout, as one started without -l does.
    'shared/base/bin/postgres': o.realPg
      ? `#!/bin/sh
${log('postgres')}
d=$2
# PolarDB-only settings (and its libraries) are unknown to PostgreSQL: a filtered copy; listen on loopback only.
mkdir -p "$d/.standin" && grep -v -E '^[[:space:]]*(polar_[a-z_]+[[:space:]]*=|shared_preload_libraries|listen_addresses)' "$d/postgresql.conf" > "$d/.standin/postgresql.conf" || exit 1
echo "listen_addresses='127.0.0.1'" >> "$d/.standin/postgresql.conf"
[ -f "$d/replica.signal" ] && touch "$d/standby.signal"
exec "${o.realPg}/postgres" -D "$d" -c config_file="$d/.standin/postgresql.conf" -c hba_file="$d/pg_hba.conf" -c ident_file="$d/pg_ident.conf" -c ${CONFIG_FILE_GUC}="$d/postgresql.conf" -c unix_socket_directories="$d/.standin"
`
      : `#!/bin/sh
${log('postgres')}
cd "$2" || exit 1
echo "postmaster $* listening"
echo $$ > "$2/postmaster.pid"
while :; do sleep 1; done
`,
    'shared/base/bin/psql': o.realPg
      ? `#!/bin/sh
${log('psql')}
exec "${o.realPg}/psql" "$@"
`
      : `#!/bin/sh
${log('psql')}
[ "$1" = --version ] && echo "psql (PostgreSQL) 15.8" || exit 1
`,
  };
  return scripts;
}

/** Writes the stand-ins below `root` (executable), pfsd's logger conf and the run dir. */
export function writeStandins(o: StandinOptions): void {
  for (const [path, text] of Object.entries(standinScripts(o))) {
    mkdirSync(join(o.root, path, '..'), { recursive: true });
    writeFileSync(join(o.root, path), text, { mode: 0o755 });
  }
  mkdirSync(join(o.root, 'pfsd/conf'), { recursive: true });
  writeFileSync(join(o.root, 'pfsd/conf/pfsd_logger.conf'), '');
  mkdirSync(join(o.root, 'run'), { recursive: true });
}

/** A fake PFS disk: its root lists PFS's own metadata files. */
export function makePfsDisk(root: string, disk: string): string {
  const dir = join(root, 'pfs', disk);
  mkdirSync(dir, { recursive: true });
  for (const f of ['.pfs-paxos', '.pfs-journal']) writeFileSync(join(dir, f), '');
  return dir;
}

/**
 * The seed's three-node polardb cluster on the stand-ins below `root`, every node on this host:
 * pb1 (RW) and pb2 (RO) on the shared disk `disk`, pb3 the standby on its own disk `standbyDisk`.
 */
export const standinSpecInput = (o: {
  cluster: string;
  root: string;
  disk: string;
  standbyDisk: string;
  ports: number[];
}): ClusterSpecInput => {
  const R = o.root;
  const node = (name: string, role: 'primary' | 'replica' | 'standby', i: number, dir: string) => ({
    name,
    role,
    host: { transport: 'local' as const },
    address: '127.0.0.1',
    port: o.ports[i]!,
    localDir: `${R}/home/${dir}`,
  });
  return {
    cluster: o.cluster,
    profile: 'polardb',
    storage: { image: `${R}/disk.img`, diskName: o.disk, dataDir: `/${o.disk}/shared_data` },
    storageDaemon: { workers: 1, startScript: `${R}/pfsd/bin/start_pfsd.sh`, pfs: `${R}/pfsd/bin/pfs`, storageClusterName: 'disk' },
    binaries: { dir: `${R}/home/base`, install: 'copy', source: `${R}/shared/base`, templateCache: `${R}/cache` },
    replication: { network: '127.0.0.0/8', user: 'postgres' },
    nodes: [
      { ...node('pb1', 'primary', 0, 'primary'), hostId: 1 },
      { ...node('pb2', 'replica', 1, 'replica1'), hostId: 2, slot: 'replica1' },
      { ...node('pb3', 'standby', 2, 'standby'), slot: 'standby1', storage: { image: `${R}/standby.img`, diskName: o.standbyDisk } },
    ],
  };
};
