// PolarDB for PostgreSQL on PFS shared storage, as the seed recovers it by hand: pfsd on every
// compute host, then each node's small local dir rebuilt with `polar-initdb.sh ... replica` (the
// right mode for every node, the read-write one included), config templates from a throwaway
// initdb, and the seed's settings appended. The standby keeps its own disk and its local dir.
import { polardbModel } from '../model/profiles/polardb.js';
import { primaryOf, sharedDataDir, type ClusterSpec, type Disk, type NodeSpec } from '../model/spec.js';
import { failure } from '../failures.js';
import type { CmdResult } from '../hosts/types.js';
import {
  binariesCheck,
  binariesOps,
  localConfigFile,
  makeLocalDir,
  markLocalDir,
  postmasterRunsIn,
  touchOnce,
  primaryConninfo,
  quoteConf,
  test,
} from './common.js';
import { binDir, type Check, type Op, type Profile } from './types.js';

const T = 30_000;
const noSlash = (p: string): string => p.replace(/\/+$/, '');

/**
 * Finds the pfsdaemon serving `disk` by its command line (`.../pfsdaemon -p <disk> -w 1 -c ...`):
 * its pid file holds the pid from before it forked. `pfsdaemo[n]` keeps the probe's own command
 * line from matching itself or start_pfsd.sh's `ps -ef | grep pfsdaemon | grep -w <disk>` check.
 * Disk names are [A-Za-z0-9_-] (spec.ts): nothing in them is special in a regex.
 */
export const pfsdRunning = (disk: Pick<Disk, 'diskName'>) => ({
  argv: ['pgrep', '-f', `(^|/)pfsdaemo[n]( .*)? -p ${disk.diskName}( |$)`],
  as: 'root' as const,
});

/** `File  1  4194304  Tue Dec 24 09:45:40 2024  .pfs-paxos` -> type and name (the last word). */
function pfsEntries(stdout: string): { type: string; name: string }[] {
  return stdout.split('\n').flatMap((l) => {
    const m = /^\s*(File|Dir)\s+\d+\s+\d+\s.*\s(\S+)\s*$/.exec(l);
    return m ? [{ type: m[1]!, name: m[2]! }] : [];
  });
}

/** The disk's data must be visible through pfsd: the data dir, or at least PFS's own metadata files. */
function pfsCheck(spec: ClusterSpec, disk: Disk): Check {
  const { pfs, storageClusterName } = spec.storageDaemon;
  const dataDir = disk.dataDir && noSlash(disk.dataDir);
  // The seed's `pfs -C disk ls /nvme1n1/`: the parent of the data dir, the disk's root without one.
  const dir = dataDir ? dataDir.slice(0, dataDir.lastIndexOf('/')) : `/${disk.diskName}`;
  const cmd = { argv: [pfs, '-C', storageClusterName, 'ls', `${dir}/`], as: 'root' as const, timeoutMs: T };
  const wrong = 'wrong disk, or not a PFS disk';
  return {
    cmd,
    failure: 'NotAPfsDisk',
    problem(r: CmdResult) {
      if (r.exitCode !== 0)
        return `${pfs} -C ${storageClusterName} ls ${dir}/ failed (exit ${r.exitCode}: ${(r.stderr || r.stdout).trim()}): ${wrong}`;
      const entries = pfsEntries(r.stdout);
      if (dataDir) {
        const name = dataDir.slice(dataDir.lastIndexOf('/') + 1);
        if (entries.some((e) => e.type === 'Dir' && e.name === name)) return undefined;
        return `PFS ${dir}/ on /dev/${disk.diskName} has no directory ${name} (the data dir ${dataDir}): ${wrong}`;
      }
      const missing = ['.pfs-paxos', '.pfs-journal'].filter((f) => !entries.some((e) => e.name === f));
      return missing.length ? `PFS ${dir}/ on /dev/${disk.diskName} lists no ${missing.join(', ')}: ${wrong}` : undefined;
    },
  };
}

/** The seed's postgresql.conf lines, in its order; a replica adds where it streams from. */
export function polardbConfBlock(spec: ClusterSpec, node: NodeSpec): string {
  const lines = [
    `port=${node.port}`,
    `polar_hostid=${node.hostId}`,
    'polar_enable_shared_storage_mode=on',
    `polar_disk_name=${quoteConf(spec.storage.diskName)}`,
    `polar_datadir=${quoteConf(`${noSlash(sharedDataDir(spec))}/`)}`,
    'polar_vfs.localfs_mode=off',
    "shared_preload_libraries='$libdir/polar_vfs,$libdir/polar_worker'",
    `polar_storage_cluster_name=${quoteConf(spec.storageDaemon.storageClusterName)}`,
    'logging_collector=on',
    "log_line_prefix='%p\\t%r\\t%u\\t%m\\t'",
    "log_directory='pg_log'",
    "listen_addresses='0.0.0.0'",
    'max_connections=200',
    '# needed so a replica can later be promoted (RO nodes rely on logindex)',
    'polar_logindex_mem_size=64MB',
    'polar_xlog_queue_buffers=64MB',
    'polar_xlog_page_buffers=64MB',
    '# with PFS, full_page_writes and polar_has_partial_write can be off',
    'full_page_writes = off',
    'polar_has_partial_write = off',
    'polar_resource_manager.enable_resource_manager=off',
  ];
  if (node.role === 'replica')
    lines.push(
      '# replication',
      `primary_slot_name=${quoteConf(node.slot!)}`,
      `primary_conninfo=${quoteConf(primaryConninfo(spec, primaryOf(spec), node))}`,
    );
  return lines.join('\n') + '\n';
}

export const polardbHbaBlock = (spec: ClusterSpec): string =>
  ['host all all 0.0.0.0/0 md5', `host replication ${spec.replication.user} ${spec.replication.network} trust`].join('\n') + '\n';

/** `polar-initdb.sh <local>/ <shared>/ replica`: the local skeleton (base/<oid>, PG_VERSION) from PFS. */
function initScriptOp(spec: ClusterSpec, node: NodeSpec): Op {
  const { name, args } = spec.binaries.initScript;
  const argv = args.map((a) => a.replaceAll('{localDir}', noSlash(node.localDir)).replaceAll('{dataDir}', noSlash(sharedDataDir(spec))));
  // `primary` mode initialises a NEW cluster into PFS: on surviving storage it must never run.
  if (argv.includes('primary'))
    throw failure(
      'SpecInvalid',
      `binaries.initScript.args ask ${name} for primary mode, which initialises a new cluster on shared storage; a recovery uses replica mode`,
    );
  return {
    kind: 'run',
    title: `build the local skeleton from ${sharedDataDir(spec)}`,
    // Root, as in the seed: the block device is root-only. Its files are chowned next.
    cmd: { argv: [`${binDir(spec)}/${name}`, ...argv], as: 'root', timeoutMs: 10 * 60_000 },
    skipIf: test('-f', `${node.localDir}/PG_VERSION`),
  };
}

/**
 * The config templates of a throwaway initdb (the seed runs one per node, while the cluster is
 * down: seconds each), made once per host and binaries version and kept in a cache dir: the key
 * is `initdb --version` with initdb's checksum, and the entry holds the version text it was made
 * for, compared before use. Made in a temp dir and renamed into place: a crash or a concurrent
 * build (two nodes on one host) never leaves or uses a half entry; fills of one cache take turns
 * (flock), so two nodes on one host run one initdb, not two side by side.
 * `$0` initdb, `$1` the cache dir, `$2` where to copy the templates (none: only fill the cache).
 * The script is constant; the paths are its arguments.
 */
const TEMPLATE_KEY = 'v=$("$0" --version); key=$( { printf "%s\\n" "$v"; sha256sum < "$0"; } | sha256sum | cut -c1-16); dir="$1/$key"; ';
const TEMPLATES =
  'set -eu; ' +
  TEMPLATE_KEY +
  'if [ "$(cat "$dir/VERSION" 2>/dev/null)" != "$v" ]; then ' +
  // One fill at a time per cache (nodes sharing a host): the others wait, then find it filled.
  'exec 9> "$1/.lock"; flock 9; ' +
  'if [ "$(cat "$dir/VERSION" 2>/dev/null)" != "$v" ]; then ' +
  'find "$1" -maxdepth 1 -name ".new-*" -mmin +60 -exec rm -rf {} +; ' +
  'tmp=$(mktemp -d "$1/.new-XXXXXX"); trap \'rm -rf "$tmp"\' EXIT; ' +
  '"$0" -D "$tmp/initdb" > /dev/null; mkdir "$tmp/t"; cp "$tmp/initdb"/*.conf "$tmp/t"/; printf "%s\\n" "$v" > "$tmp/t/VERSION"; ' +
  'if [ -e "$dir" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" != "$v" ]; then rm -rf "$dir"; fi; ' +
  'mv -T "$tmp/t" "$dir" 2> /dev/null || [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$v" ]; ' +
  'fi; fi; ' +
  'if [ -n "${2:-}" ]; then cp "$dir"/*.conf "$2"/; fi';
const TEMPLATES_CACHED = TEMPLATE_KEY + '[ "$(cat "$dir/VERSION" 2>/dev/null)" = "$v" ]';

/** The cache dir of the database user on its host: its own, 0700. */
const templateCacheOf = (spec: ClusterSpec, node: NodeSpec): string => `${noSlash(spec.binaries.templateCache)}/${node.osUser}`;

function templateCacheOps(spec: ClusterSpec, node: NodeSpec): Op[] {
  const cache = templateCacheOf(spec, node);
  const root = noSlash(spec.binaries.templateCache);
  return [
    {
      kind: 'run',
      title: 'the config template cache',
      cmd: { argv: ['mkdir', '-p', '-m', '0755', '--', root], as: 'root', timeoutMs: T },
      skipIf: test('-d', root),
    },
    {
      kind: 'run',
      title: `the config template cache of ${node.osUser}`,
      cmd: { argv: ['install', '-d', '-o', node.osUser, '-g', node.osUser, '-m', '0700', cache], as: 'root', timeoutMs: T },
      skipIf: test('-d', cache),
    },
  ];
}

/**
 * Fills the host's template cache for these binaries, beside the storage steps (on new hosts the
 * primary's fill is still the head of the critical path). Changes nothing of the cluster.
 */
function templateWarmOps(spec: ClusterSpec, node: NodeSpec): Op[] {
  const cache = templateCacheOf(spec, node);
  const initdb = `${binDir(spec)}/initdb`;
  return [
    ...templateCacheOps(spec, node),
    {
      kind: 'run',
      title: 'config templates for these binaries, from a throwaway initdb (once per host and version)',
      cmd: { argv: ['sh', '-c', TEMPLATES, initdb, cache], as: 'db', timeoutMs: 5 * 60_000 },
      skipIf: {
        argv: ['sh', '-c', TEMPLATES_CACHED, initdb, cache],
        as: 'db',
        label: `${cache} holds the templates of this initdb's version`,
      },
    },
  ];
}

/**
 * The config templates in the local dir, from the host's cache (made there first when missing).
 * postgresql.conf is the last file the copy writes (the glob sorts it after postgresql.auto.conf),
 * so its presence means all of this is done; chmod/chown come before it and are skipped by it too.
 */
function templateOps(spec: ClusterSpec, node: NodeSpec): Op[] {
  const dir = node.localDir;
  const conf = `${dir}/postgresql.conf`;
  const done = test('-f', conf);
  const run = (title: string, argv: string[], as: 'root' | 'db', timeoutMs = T): Op => ({
    kind: 'run',
    title,
    cmd: { argv, as, timeoutMs },
    skipIf: done,
  });
  return [
    run('make the local dir private', ['chmod', '-R', '700', dir], 'root'),
    run(`give the local dir to ${node.osUser}`, ['chown', '-R', `${node.osUser}:${node.osUser}`, dir], 'root'),
    ...templateCacheOps(spec, node),
    run(
      'copy the config templates from the cache (a throwaway initdb fills it when it lacks this version)',
      ['sh', '-c', TEMPLATES, `${binDir(spec)}/initdb`, templateCacheOf(spec, node), dir],
      'db',
      5 * 60_000,
    ),
  ];
}

/**
 * A standby keeps its local dir (seed step 8): nothing is rebuilt, but a missing config must stop
 * the recovery with a clear message instead of pg_ctl failing later. Skipped when it is there.
 */
function standbyKeptOp(node: NodeSpec): Op {
  const conf = `${node.localDir}/postgresql.conf`;
  return {
    kind: 'require',
    title: `the standby kept its local dir ${node.localDir}`,
    probe: test('-f', conf),
    failure: 'StandbyDirMissing',
    message: `${conf} is missing: a standby keeps its local dir; restore it or rebuild the standby by hand`,
  };
}

export const polardbProfile: Profile<'polardb'> = {
  ...polardbModel,

  storageDaemon(spec, _node, disk) {
    const { startScript, workers } = spec.storageDaemon;
    const ops: Op[] = [
      {
        kind: 'run',
        title: `start pfsd for ${disk.diskName}`,
        // pfsdaemon keeps the caller's stdout/stderr open: its output must go to a file. The file
        // name must not contain "pfsdaemon", or start_pfsd.sh's `ps | grep` would see itself.
        cmd: {
          argv: [startScript, '-p', disk.diskName, '-w', String(workers)],
          as: 'root',
          outputFile: `/var/log/polar-runbook-pfsd-${disk.diskName}.log`,
          timeoutMs: 2 * 60_000,
        },
        // A second start prints "<disk> already exist" and exits 1: runOps re-probes and accepts it.
        skipIf: pfsdRunning(disk),
      },
    ];
    return { ops, check: pfsCheck(spec, disk) };
  },

  binaries(spec, node) {
    // The standby keeps its local dir: it needs no templates.
    return {
      ops: binariesOps(spec),
      check: binariesCheck(spec),
      ...(node.role === 'standby' ? {} : { then: templateWarmOps(spec, node) }),
    };
  },

  buildNode(spec, node) {
    if (node.role === 'standby') return [standbyKeptOp(node)];
    const ops: Op[] = [makeLocalDir(node), markLocalDir(spec, node), initScriptOp(spec, node), ...templateOps(spec, node)];
    ops.push(
      {
        kind: 'block',
        title: 'postgresql.conf settings',
        path: `${node.localDir}/postgresql.conf`,
        block: polardbConfBlock(spec, node),
        owner: 'db',
      },
      { kind: 'block', title: 'pg_hba.conf rules', path: `${node.localDir}/pg_hba.conf`, block: polardbHbaBlock(spec), owner: 'db' },
    );
    if (node.role === 'replica') ops.push(touchOnce('mark the node as a replica', `${node.localDir}/replica.signal`));
    return ops;
  },

  startNode(spec, node) {
    return {
      kind: 'run',
      title: `start ${node.name}`,
      // The seed's command. pg_ctl waits (60 s by default); a slower start still exits once the
      // postmaster runs, and the activity then waits for connections. Without -l the postmaster
      // keeps pg_ctl's stdout: it goes to a file in the local dir (the db user's, like the seed's).
      cmd: {
        argv: [`${binDir(spec)}/pg_ctl`, 'start', '-D', node.localDir],
        as: 'db',
        outputFile: `${node.localDir}/pg_ctl-start.log`,
        timeoutMs: 10 * 60_000,
      },
      skipIf: postmasterRunsIn(node.localDir),
    };
  },

  // Every build is local work from PFS: nothing of an earlier attempt outlives its worker.
  earlierBuild: () => undefined,

  // PolarDB's -D is the local dir: the postmaster runs there.
  postmasterDir: (_spec, node) => node.localDir,

  configFile: localConfigFile,

  // What the postmaster says before its logging collector starts, then the collector's files.
  serverLogs: (_spec, node) => [`${node.localDir}/pg_ctl-start.log`, `${node.localDir}/pg_log`],

  diskDaemon: pfsdRunning,

  storageInUse: (disk) => ({
    probe: pfsdRunning(disk),
    inUse: `a pfsdaemon for ${disk.diskName} still runs on its host`,
    free: `no pfsdaemon for ${disk.diskName} on its host`,
    expect: 'must find nothing: no pfsdaemon for the old disk',
  }),

  // The old primary's WAL and pg_control were on the lost PFS disk.
  oldPrimaryControl: () => undefined,
};
