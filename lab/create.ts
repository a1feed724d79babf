// createLab: a real cluster on this machine, built with the runbook's own code wherever the
// runbook has a step for it (attach, mount, local dirs and config, clone, start). What only a
// brand-new cluster needs (mkfs, initdb, slots, data) is done here and nowhere else.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import YAML from 'yaml';
import { nodesOf, parseSpec, primaryOf, type ClusterSpec, type ClusterSpecInput, type Disk, type NodeSpec } from '../lib/model/spec.js';
import { whoAnswers, withDb } from '../lib/db.js';
import { hostFor } from '../lib/hosts/index.js';
import { Journal, must, runOps } from '../lib/ops.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { binDir } from '../lib/profiles/types.js';
import { attach } from '../lib/storage.js';
import { provisionContainer } from '../lib/provision.js';
import { engineRoot, startEngine } from './containers/engine.js';
import { ensureHostImage } from './containers/image.js';
import { containerSpecInput, createNetwork, DATA, networkName, writeContainersFile, type ContainersFile } from './containers/topology.js';
import { destroyLab } from './destroy.js';
import { checkLabId, DISKS, labPaths, newLabId, type LabPaths } from './layout.js';
import { LAB_MARKER, type Lab, type LabFile } from './load.js';
import { labSpecInput } from './spec.js';
import { exists, sh, until } from './system.js';

export interface CreateOptions {
  id?: string;
  /** Replicas on the shared storage's primary (each a local clone); default 1. */
  replicas?: number;
  /** Rows in tbl; default 1000. */
  rows?: number;
  /** Pads tbl with about this many MB of incompressible rows (benchmarks). */
  dataMb?: number;
  /** Size of each sparse image; default 2, more when dataMb needs it. */
  imageSizeGb?: number;
  /**
   * `local` (default): every node on this machine. `containers`: the seed's topology, one
   * container per node in the lab's own Docker engine (lab/containers), reached by `docker exec`.
   */
  hosts?: 'local' | 'containers';
  log?: (line: string) => void;
}

const T = 60_000;
/** Bytes of text per padding row: under the ~2 kB TOAST threshold, so rows stay plain heap tuples. */
const PAD_ROW_BYTES = 1000;
const PAD_BATCH_ROWS = 50_000;

const int = (name: string, v: number, min: number, max: number): number => {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got ${v})`);
  return v;
};

export async function createLab(opts: CreateOptions = {}): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root: it binds loop devices, runs mkfs and mounts filesystems');
  const id = checkLabId(opts.id ?? newLabId());
  // max_wal_senders and max_replication_slots are 16 in the profile's config.
  const replicas = int('replicas', opts.replicas ?? 1, 0, 15);
  const rows = int('rows', opts.rows ?? 1000, 0, 100_000_000);
  const dataMb = opts.dataMb === undefined ? undefined : int('dataMb', opts.dataMb, 0, 1_000_000);
  // Sparse images cost only what is written: room for the padding, its WAL and a checkpoint's worth more.
  const imageSizeGb = int('imageSizeGb', opts.imageSizeGb ?? Math.max(2, Math.ceil((3 * (dataMb ?? 0)) / 1024) + 1), 1, 16_384);
  const log = opts.log ?? (() => {});
  const p = labPaths(id);

  // Refuse before making anything: nothing of an existing lab may be touched.
  const taken = () => new Error(`lab ${id} already exists at ${p.root}: destroy it first`);
  if (await exists(p.root)) throw taken();
  for (const d of DISKS)
    if (await exists(p.link[d])) throw new Error(`${p.link[d]} already exists (left by an earlier lab ${id}?): destroy lab ${id} first`);
  await mkdirs(dirname(p.root));
  try {
    await mkdir(p.root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw taken(); // created meanwhile
    throw err;
  }

  const started = Date.now();
  try {
    await chmod(p.root, 0o755);
    await writeFile(join(p.root, LAB_MARKER), `id=${id}\n`);
    let input: ClusterSpecInput;
    let hostsOf: BuildHosts;
    if (opts.hosts === 'containers') {
      ({ input, hosts: hostsOf } = await containerHosts(id, p, replicas, log));
    } else {
      input = labSpecInput(id, p, await freePorts(replicas + 2), replicas);
      hostsOf = localHosts(p);
    }
    const spec = parseSpec(input);
    await build(spec, p, { rows, dataMb, imageSizeGb }, hostsOf, log);

    await writeFile(p.specFile, `# Lab ${id}, written by lab/create.ts\n${YAML.stringify(input)}`);
    const labFile: LabFile = {
      id,
      createdAt: new Date().toISOString(),
      createSeconds: (Date.now() - started) / 1000,
      rows,
      ...(dataMb === undefined ? {} : { dataMb }),
      imageSizeGb,
      hosts: opts.hosts ?? 'local',
      ports: Object.fromEntries(spec.nodes.map((n) => [n.name, n.port])),
      addresses: Object.fromEntries(spec.nodes.map((n) => [n.name, n.address])),
      images: p.image,
      links: p.link,
      specFile: p.specFile,
    };
    await writeFile(p.labFile, JSON.stringify(labFile, null, 2) + '\n');
    log(`lab ${id} created in ${labFile.createSeconds.toFixed(1)} s`);
    return { id, root: p.root, spec, specFile: p.specFile };
  } catch (err) {
    log(`create failed (${(err as Error).message.split('\n')[0]}); destroying lab ${id}`);
    await destroyLab(id, log).catch((e: Error) => log(`destroying the half-built lab failed too: ${e.message}`));
    throw err;
  }
}

/** Where the lab's nodes live: what build does differently for local hosts and containers. */
interface BuildHosts {
  /** Makes each node's host "home" (the dir its local dir goes in), owned by the db user. */
  homes(spec: ClusterSpec): Promise<void>;
  /** initdb's password file: written on this machine at `path`, read by initdb on the primary's host at `seen`. */
  pwfile: { path: string; seen: string };
}

function localHosts(p: LabPaths): BuildHosts {
  const pwfile = join(p.root, 'initdb-pwfile'); // the db user must read it; removed right after
  return {
    async homes(spec) {
      // Host "homes" outlive the disaster (only the local dirs in them are lost); the db user makes its local dir there.
      const homes = spec.nodes.map((n) => dirname(n.localDir));
      for (const h of homes) await mkdirs(h);
      await sh(['chown', `${primaryOf(spec).osUser}:`, ...homes]);
    },
    pwfile: { path: pwfile, seen: pwfile },
  };
}

/**
 * The seed's topology: the lab's engine and host image, its network, one container per node made
 * by the runbook's own provisioning; pb-standby's home is a volume (kept across its restart).
 */
async function containerHosts(
  id: string,
  p: LabPaths,
  replicas: number,
  log: (line: string) => void,
): Promise<{ input: ClusterSpecInput; hosts: BuildHosts }> {
  const engine = await startEngine(engineRoot(), log);
  // The docker transport (DockerHost) finds the engine through the worker's DOCKER_HOST.
  process.env.DOCKER_HOST = engine.dockerHost;
  const network = networkName(id);
  const c: ContainersFile = { engineRoot: engine.root, network, containers: [] };
  await writeContainersFile(p, c);
  const image = await ensureHostImage(engine, log);
  const subnet = await createNetwork(engine, network, log);
  const input = containerSpecInput(id, p, { image, network, subnet, replicas });
  c.subnet = subnet;
  c.containers = input.nodes.map((n) => (n.host as { container: string }).container);
  await writeContainersFile(p, c);
  const pwfile = join(p.imagesDir, 'initdb-pwfile');
  return {
    input,
    hosts: {
      async homes(spec) {
        await mkdirs(join(p.hostsDir, nodesOf(spec, 'standby')[0]!.name));
        const j = new Journal((host, cmd) => log(`${host}: ${cmd}`));
        for (const n of spec.nodes) {
          if (n.host.transport !== 'docker' || !n.host.provision) continue;
          await provisionContainer(n.name, n.host.container, n.host.provision, j);
          await must(hostFor(n), { argv: ['chown', `${n.osUser}:`, dirname(n.localDir)], as: 'root', timeoutMs: T }, j);
        }
      },
      pwfile: { path: pwfile, seen: `${DATA}/initdb-pwfile` },
    },
  };
}

async function build(
  spec: ClusterSpec,
  p: LabPaths,
  o: { rows: number; dataMb?: number; imageSizeGb: number },
  hostsOf: BuildHosts,
  log: (line: string) => void,
) {
  const j = new Journal((host, cmd) => log(`${host}: ${cmd}`));
  const primary = primaryOf(spec);
  const standby = nodesOf(spec, 'standby')[0]!;

  await mkdirs(p.imagesDir);
  await mkdirs(p.secretsDir, 0o700);
  const password = randomBytes(24).toString('base64url');
  await writeFile(p.passwordFile, `${password}\n`, { mode: 0o600 });
  await hostsOf.homes(spec);
  for (const d of DISKS) await sh(['truncate', '-s', `${o.imageSizeGb}G`, p.image[d]]);

  log(`shared disk ${p.image.shared}`);
  await newDisk(spec, primary, spec.storage, j);
  await initdb(spec, primary, hostsOf.pwfile, password, j);

  log(`primary ${primary.name} on port ${primary.port}`);
  await runOps(hostFor(primary), postgresProfile.buildNode(spec, primary), j);
  await startNode(spec, primary, j);
  await seedData(spec, primary, o.rows, o.dataMb, log);

  for (const r of nodesOf(spec, 'replica')) {
    log(`replica ${r.name} on port ${r.port}`);
    await runOps(hostFor(r), postgresProfile.buildNode(spec, r), j);
    await startNode(spec, r, j);
  }

  log(`standby ${standby.name} on port ${standby.port}, own disk ${p.image.standby}`);
  await newDisk(spec, standby, standby.storage!, j);
  await must(
    hostFor(standby),
    {
      argv: [
        `${binDir(spec)}/pg_basebackup`,
        ...['-D', standby.storage!.dataDir!, '-S', standby.slot!, '-X', 'stream', '-c', 'fast'],
        ...['-h', primary.address, '-p', String(primary.port), '-U', spec.replication.user, '-w'],
      ],
      as: 'db',
      timeoutMs: 6 * 3600_000,
    },
    j,
  );
  await runOps(hostFor(standby), postgresProfile.buildNode(spec, standby), j);
  await startNode(spec, standby, j);

  await waitStreaming(spec, primary);
  log(`streaming: ${spec.nodes.flatMap((n) => (n.slot ? [n.slot] : [])).join(', ')}`);
}

/** Creates the missing dirs of `path`, each 0755 whatever the umask (the db user must traverse them). */
async function mkdirs(path: string, mode = 0o755): Promise<void> {
  if (await exists(path)) return;
  await mkdirs(dirname(path));
  await mkdir(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err; // a concurrent create made it: fine
  });
  await chmod(path, mode);
}

/** Free ports on loopback, all different (bind port 0, read it, close). */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    ports.add((server.address() as { port: number }).port);
    await new Promise((resolve) => server.close(resolve));
  }
  return [...ports];
}

/** A brand-new disk: attached and mounted as the runbook does, and formatted, which only the lab ever does. */
async function newDisk(spec: ClusterSpec, node: NodeSpec, disk: Disk, j: Journal): Promise<void> {
  const host = hostFor(node);
  const device = await attach(host, disk, j, node.host.transport === 'docker');
  await must(host, { argv: ['mkfs.ext4', '-q', device], as: 'root', timeoutMs: 10 * 60_000 }, j);
  await runOps(host, postgresProfile.storageDaemon(spec, node, disk).ops, j);
  await must(
    host,
    { argv: ['install', '-d', '-o', node.osUser, '-g', node.osUser, '-m', '0700', disk.dataDir!], as: 'root', timeoutMs: T },
    j,
  );
}

/** initdb on the shared disk, then the PolarDB split: no config files stay with the data. */
async function initdb(spec: ClusterSpec, primary: NodeSpec, pw: BuildHosts['pwfile'], password: string, j: Journal): Promise<void> {
  const data = spec.storage.dataDir!;
  await writeFile(pw.path, `${password}\n`, { mode: 0o600 });
  const pwfile = pw.seen;
  try {
    await must(hostFor(primary), { argv: ['chown', `${primary.osUser}:`, pwfile], as: 'root', timeoutMs: T }, j);
    await must(
      hostFor(primary),
      {
        argv: [
          `${binDir(spec)}/initdb`,
          ...['-D', data, '-U', spec.connection.user, '-E', 'UTF8', '--auth-local=peer', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`],
        ],
        as: 'db',
        timeoutMs: 10 * 60_000,
      },
      j,
    );
  } finally {
    await rm(pw.path, { force: true });
  }
  const confs = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'].map((f) => `${data}/${f}`);
  await must(hostFor(primary), { argv: ['rm', '-f', '--', ...confs], as: 'db', timeoutMs: T }, j);
}

/** The profile's start op, then: the node answers as itself, in its role. */
async function startNode(spec: ClusterSpec, node: NodeSpec, j: Journal): Promise<void> {
  await runOps(hostFor(node), [postgresProfile.startNode(spec, node)], j);
  const wantRecovery = node.role !== 'primary';
  await until(`${node.name} to accept connections`, 120_000, async () => {
    const who = await whoAnswers(spec, node);
    if (who.state === 'foreign') throw new Error(who.detail);
    if (who.state !== 'ours') return who.detail;
    return who.inRecovery === wantRecovery ? true : `pg_is_in_recovery() = ${who.inRecovery}`;
  });
}

/** The seed's tables, tbl's rows and padding, the slots every replica and the standby stream through. */
async function seedData(spec: ClusterSpec, primary: NodeSpec, rows: number, dataMb: number | undefined, log: (line: string) => void) {
  await withDb(
    spec,
    primary,
    async (db) => {
      await db.query('create table t (id int)');
      await db.query('create table t1 (id int)');
      await db.query('insert into t1 values (1)');
      await db.query('create table t2 (id int)');
      await db.query('create table tbl (id int primary key, payload text)');
      await db.query('insert into tbl select g, md5(g::text) from generate_series(1, $1::int) g', [rows]);
      if (dataMb) await pad(db, rows, dataMb, log);
      // Last: a slot reserves WAL from its creation on, and unused slots would keep all the padding's WAL.
      for (const n of spec.nodes) if (n.slot) await db.query('select pg_create_physical_replication_slot($1, true)', [n.slot]);
    },
    10_000,
  );
}

/** Rows after tbl's own, PAD_ROW_BYTES of md5 text each (incompressible enough for pglz), in batches. */
async function pad(db: pg.Client, rows: number, dataMb: number, log: (line: string) => void): Promise<void> {
  const padRows = Math.ceil((dataMb * 1024 * 1024) / PAD_ROW_BYTES);
  for (let from = 1; from <= padRows; from += PAD_BATCH_ROWS) {
    const to = Math.min(padRows, from + PAD_BATCH_ROWS - 1);
    await db.query(
      `insert into tbl
         select $1::int + g, left((select string_agg(md5(g::text || '.' || k), '') from generate_series(1, $4::int) k), $5::int)
           from generate_series($2::int, $3::int) g`,
      [rows, from, to, Math.ceil(PAD_ROW_BYTES / 32), PAD_ROW_BYTES],
    );
    log(`padding tbl: ${Math.round((to * PAD_ROW_BYTES) / 1024 / 1024)} of ${dataMb} MB`);
  }
  const size = await db.query<{ size: string }>(`select pg_size_pretty(pg_total_relation_size('tbl')) as size`);
  log(`tbl: ${size.rows[0]!.size}`);
}

/** Every replica and the standby show up as `streaming` under their slot's name. */
async function waitStreaming(spec: ClusterSpec, primary: NodeSpec): Promise<void> {
  const want = spec.nodes.flatMap((n) => (n.slot ? [n.slot] : []));
  await until('every replica and the standby to stream from the primary', 120_000, async () => {
    const r = await withDb(spec, primary, (db) =>
      db.query<{ application_name: string }>(`select application_name from pg_stat_replication where state = 'streaming'`),
    );
    const streaming = r.rows.map((x) => x.application_name);
    const missing = want.filter((s) => !streaming.includes(s));
    return missing.length === 0 ? true : `not streaming: ${missing.join(', ')} (streaming: ${streaming.join(', ') || 'none'})`;
  });
}
