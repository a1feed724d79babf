// Vanilla PostgreSQL with its data on an attached volume (the lab; also a VM that died while its
// EBS/SAN volume survived). The PolarDB split is kept: configuration in a compute-local dir, data
// on the volume, joined by `data_directory`. Replicas are clones of the recovered primary through
// their surviving slot; the standby re-attaches its own disk.
import { postgresModel } from '../model/profiles/postgres.js';
import { primaryOf, sharedDataDir, type ClusterSpec, type Disk, type NodeSpec } from '../model/spec.js';
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
import { diskLink } from './storage.js';
import { binDir, type Op, type Profile } from './types.js';

const T = 30_000;

/** Where a node's data directory is: the shared volume, the replica's local dir, the standby's own disk. */
export function dataDirOf(spec: ClusterSpec, node: NodeSpec): string {
  if (node.role === 'primary') return sharedDataDir(spec);
  if (node.role === 'standby') return node.storage!.dataDir!;
  return `${node.localDir}/data`;
}

export function postgresConfBlock(spec: ClusterSpec, node: NodeSpec): string {
  const lines = [
    `data_directory = ${quoteConf(dataDirOf(spec, node))}`,
    `hba_file = ${quoteConf(`${node.localDir}/pg_hba.conf`)}`,
    `ident_file = ${quoteConf(`${node.localDir}/pg_ident.conf`)}`,
    `listen_addresses = ${quoteConf(node.address)}`,
    `port = ${node.port}`,
    `unix_socket_directories = ${quoteConf(node.localDir)}`,
    'wal_level = replica',
    'max_wal_senders = 16',
    'max_replication_slots = 16',
    'hot_standby = on',
  ];
  if (node.role !== 'primary') {
    lines.push(
      `primary_conninfo = ${quoteConf(primaryConninfo(spec, primaryOf(spec), node))}`,
      `primary_slot_name = ${quoteConf(node.slot!)}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** pg_hba.conf is ours whole: the sample has initdb placeholders and cannot be used as is. */
export const pgHbaConf = (spec: ClusterSpec): string =>
  [
    '# TYPE  DATABASE     USER   ADDRESS   METHOD (rendered by polar-runbook from the cluster spec)',
    'local   all          all              peer',
    `host    replication  ${spec.replication.user}  ${spec.replication.network}  trust`,
    'host    all          all    0.0.0.0/0  scram-sha-256',
    '',
  ].join('\n');

const templates = (spec: ClusterSpec) => spec.binaries.shareDir ?? `${spec.binaries.dir}/share`;

function configOps(spec: ClusterSpec, node: NodeSpec): Op[] {
  const conf = `${node.localDir}/postgresql.conf`;
  return [
    {
      kind: 'run',
      title: 'postgresql.conf template',
      cmd: { argv: ['cp', `${templates(spec)}/postgresql.conf.sample`, conf], as: 'db', timeoutMs: T },
      skipIf: test('-f', conf),
    },
    { kind: 'block', title: 'postgresql.conf settings', path: conf, block: postgresConfBlock(spec, node), owner: 'db' },
    { kind: 'file', title: 'pg_hba.conf', path: `${node.localDir}/pg_hba.conf`, content: pgHbaConf(spec), owner: 'db', mode: '0600' },
    {
      kind: 'file',
      title: 'pg_ident.conf',
      path: `${node.localDir}/pg_ident.conf`,
      content: '# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n',
      owner: 'db',
      mode: '0600',
    },
  ];
}

/** A replica is a fresh clone of the recovered primary, streamed through its own slot. */
function cloneOps(spec: ClusterSpec, node: NodeSpec): Op[] {
  const data = dataDirOf(spec, node);
  const primary = primaryOf(spec);
  return [
    {
      // A clone cut short (worker killed mid-copy) has no backup_manifest yet: start it over.
      // Only ever inside our own marked local dir, never on shared storage.
      kind: 'run',
      title: 'remove an unfinished clone',
      cmd: { argv: ['rm', '-rf', '--', data], as: 'db', timeoutMs: 10 * 60_000 },
      skipIf: {
        ...test('!', '-e', data, '-o', '-f', `${data}/backup_manifest`),
        label: `${data} is absent, or a complete clone (has backup_manifest)`,
      },
    },
    {
      kind: 'run',
      title: `clone the primary through slot ${node.slot}`,
      cmd: {
        argv: [
          `${binDir(spec)}/pg_basebackup`,
          ...['-h', primary.address, '-p', String(primary.port), '-U', spec.replication.user],
          ...['-D', data, '-S', node.slot!, '-X', 'stream', '-c', 'fast', '-w'],
        ],
        as: 'db',
        timeoutMs: 6 * 3600_000,
      },
      skipIf: test('-f', `${data}/backup_manifest`),
    },
  ];
}

/**
 * PIDs of pg_basebackup processes that have `$0` (a clone's target directory) as one of their
 * arguments. The script is constant; the directory is its argument.
 */
const CLONES_INTO =
  'for p in $(pgrep -x pg_basebackup); do ' +
  'tr "\\0" "\\n" < "/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$0" && echo "$p"; done; true';

export const postgresProfile: Profile<'postgres'> = {
  ...postgresModel,

  storageDaemon(_spec, _node, disk: Disk) {
    const mnt = disk.mountPoint!;
    const ops: Op[] = [
      {
        kind: 'run',
        title: `create mount point ${mnt}`,
        cmd: { argv: ['mkdir', '-p', mnt], as: 'root', timeoutMs: T },
        skipIf: test('-d', mnt),
      },
      {
        kind: 'run',
        title: `mount ${diskLink(disk)}`,
        cmd: { argv: ['mount', diskLink(disk), mnt], as: 'root', timeoutMs: 5 * 60_000 },
        skipIf: { argv: ['mountpoint', '-q', mnt], as: 'root' },
      },
    ];
    const pgVersion = `${disk.dataDir}/PG_VERSION`;
    return {
      ops,
      check: {
        cmd: { argv: ['cat', pgVersion], as: 'root', timeoutMs: T },
        failure: 'WrongCluster',
        problem: (r) =>
          r.exitCode === 0 ? undefined : `no PostgreSQL data directory at ${disk.dataDir} on ${diskLink(disk)} (${pgVersion} is missing)`,
      },
    };
  },

  binaries(spec) {
    return { ops: binariesOps(spec), check: binariesCheck(spec) };
  },

  buildNode(spec, node) {
    const ops = [makeLocalDir(node), markLocalDir(spec, node)];
    if (node.role === 'replica') ops.push(...cloneOps(spec, node));
    ops.push(...configOps(spec, node));
    if (node.role !== 'primary') ops.push(touchOnce('mark as standby', `${dataDirOf(spec, node)}/standby.signal`));
    return ops;
  },

  startNode(spec, node) {
    return {
      kind: 'run',
      title: `start ${node.name}`,
      cmd: {
        argv: [`${binDir(spec)}/pg_ctl`, '-w', '-t', '600', '-D', node.localDir, '-l', `${node.localDir}/postgresql.log`, 'start'],
        as: 'db',
        timeoutMs: 610_000,
      },
      skipIf: postmasterRunsIn(dataDirOf(spec, node)),
    };
  },

  /**
   * A clone an earlier attempt started may outlive its worker (a large clone outlives the heartbeat
   * timeout by far): the retry waits for it, so it neither removes the copy under the running clone
   * nor starts a second one beside it, and a clone that finished meanwhile is kept.
   */
  earlierBuild: (spec, node) => {
    if (node.role !== 'replica') return undefined;
    const target = dataDirOf(spec, node);
    return { cmd: { argv: ['sh', '-c', CLONES_INTO, target], as: 'root', timeoutMs: T }, what: `an earlier clone into ${target}` };
  },

  postmasterDir: dataDirOf,

  configFile: localConfigFile,

  serverLogs: (_spec, node) => [`${node.localDir}/postgresql.log`],

  storageInUse: (disk) =>
    disk.mountPoint
      ? {
          probe: { argv: ['mountpoint', '-q', disk.mountPoint], as: 'root' },
          inUse: `${disk.mountPoint} (the old shared disk) is still mounted on its host`,
          free: `${disk.mountPoint} is not mounted on its host`,
          expect: 'must fail: not mounted',
        }
      : undefined,

  // The shared volume may still be readable from the old primary's host: its pg_control, a lower bound.
  oldPrimaryControl: (spec) => ({ argv: [`${binDir(spec)}/pg_controldata`, '-D', sharedDataDir(spec)], as: 'root', timeoutMs: 15_000 }),
};
