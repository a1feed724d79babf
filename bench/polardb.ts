// The polardb section: a cluster on the PolarDB stand-ins (test/helpers/polardb-standins.ts) with
// the real costs the issue measured: start_pfsd.sh sleeps 1 s, the template initdb is the real
// initdb, the nodes are real PostgreSQL servers (crash recovery, streaming). Recovered (a) by the
// seed's own commands run raw, in the seed's order (PROCEDURE.md), with no think time, and (b) by
// recoverCluster with the `polardb` profile. Each run starts from the same wreck: every compute
// host gone (postmasters and pfsd killed, loop devices and links gone, the RW/RO local dirs and the
// binaries copy gone, the template cache empty: new hosts), the shared data and the standby's own
// disk and local dir as they were at the crash.
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { polardbConfBlock, polardbHbaBlock } from '../lib/profiles/polardb.js';
import { renderBlock } from '../lib/ops.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { RecoveryReport } from '../lib/model/report.js';
import { nodeNamed, parseSpec, type ClusterSpec } from '../lib/model/spec.js';
import { freePort } from '../scripts/ports.js';
import { makePfsDisk, realPgSetupSql, standinSpecInput, writeStandins } from '../test/helpers/polardb-standins.js';
import { sec, sleep } from './stats.js';
import { timeline } from './steps.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PolardbRun {
  /** workflow-warm: the template cache kept from the run before (a host that recovered before). */
  mode: 'raw' | 'workflow' | 'workflow-warm';
  rtoMs: number;
  /** raw: each seed command's time; workflow: each step's. */
  steps: [string, number][];
  /** workflow: [step, start offset from the run's start, duration] (the critical path, read off). */
  timeline?: [string, number, number][];
}

interface Cluster {
  R: string;
  spec: ClusterSpec;
  disk: string;
  sdisk: string;
  ports: number[];
}

const asPg = (argv: string[]) => ['runuser', '-u', 'postgres', '--', ...argv];
/** `out`: the command's output appended to that file by the shell, not piped through us (a daemon it starts keeps it open). */
const run = (argv: string[], o: { input?: string; out?: string } = {}) =>
  o.out
    ? execa('sh', ['-c', 'f=$1; shift; exec "$@" >> "$f" 2>&1', 'sh', o.out, ...argv])
    : execa(argv[0]!, argv.slice(1), o.input !== undefined ? { input: o.input } : {});
const psql = (port: number, sql: string) =>
  run(
    asPg([
      `${PG_BIN}/psql`,
      '-X',
      '-qAt',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      sql,
    ]),
  );

/** Builds the cluster once: the shared data (a crashed primary with its slots), the standby's kept dir. */
export async function buildPolardbCluster(): Promise<Cluster> {
  const hex = randomBytes(3).toString('hex');
  const disk = `pbn${hex}`;
  const sdisk = `pbn${hex}s`;
  const R = await mkdtemp('/tmp/prb-bench-');
  chmodSync(R, 0o755);
  const cluster: Partial<Cluster> = { R, disk, sdisk, spec: { cluster: `pbn${hex}` } as ClusterSpec };
  live.add(cluster as Cluster); // destroyed even when building it fails half-way
  const ports = [await freePort(), await freePort(), await freePort()];
  const log = `${R}/calls.log`;
  writeFileSync(log, '');
  chmodSync(log, 0o666);
  writeStandins({ root: R, log, pfsdSleeps: true, realPg: PG_BIN });
  makePfsDisk(R, disk);
  makePfsDisk(R, sdisk);
  for (const img of ['disk.img', 'standby.img']) await run(['truncate', '-s', '16M', `${R}/${img}`]);
  for (const d of ['setup', 'home', 'pristine']) {
    mkdirSync(`${R}/${d}`);
    await run(['chown', 'postgres:postgres', `${R}/${d}`]);
  }
  // The primary before the disaster: slots for the replica and the standby, some data; then crashed.
  const pri = `${R}/setup/pri`;
  await run(asPg([`${PG_BIN}/initdb`, '-D', pri]), { out: `${R}/setup.log` });
  const opts = `-c port=${ports[0]} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${R}/setup`;
  await run(asPg([`${PG_BIN}/pg_ctl`, '-D', pri, '-o', opts, '-l', `${R}/setup/pri.log`, '-w', 'start']));
  for (const sql of [
    "select pg_create_physical_replication_slot('replica1', true)",
    "select pg_create_physical_replication_slot('standby1', true)",
    ...realPgSetupSql,
    'create table t as select g as id, md5(g::text) as v from generate_series(1, 10000) g',
  ])
    await psql(ports[0]!, sql);
  // The standby's local dir, kept through the disaster (seed step 8): a copy streaming through its slot.
  const standby = `${R}/pristine/standby`;
  await run(
    asPg([
      `${PG_BIN}/pg_basebackup`,
      '-h',
      '127.0.0.1',
      '-p',
      String(ports[0]),
      '-U',
      'postgres',
      '-D',
      standby,
      '-S',
      'standby1',
      '-X',
      'stream',
    ]),
  );
  appendFileSync(
    `${standby}/postgresql.conf`,
    // As the nodes' rendered config: a hot standby needs max_connections >= the primary's (200).
    `port=${ports[2]}\nmax_connections=200\nprimary_conninfo='host=127.0.0.1 port=${ports[0]} user=postgres dbname=postgres application_name=standby1'\nprimary_slot_name='standby1'\n`,
  );
  writeFileSync(`${standby}/standby.signal`, '');
  await run(['chown', '-R', 'postgres:postgres', standby]);
  await run(asPg([`${PG_BIN}/pg_ctl`, '-D', pri, '-m', 'immediate', 'stop']));
  await run(['mv', pri, `${R}/pfs/${disk}/shared_data`]);

  const spec = parseSpec(standinSpecInput({ cluster: `pbn${hex}`, root: R, disk, standbyDisk: sdisk, ports }));
  return Object.assign(cluster, { R, spec, disk, sdisk, ports });
}

/** PIDs of processes whose command line mentions the cluster's root (its postmasters, pfsd, scripts). */
async function pidsBelow(R: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const argv = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (argv.includes(`${R}/`)) out.push(Number(e));
  }
  return out;
}

/** The disaster: every compute host gone; the shared data and the standby's disk and dir as at the crash. */
export async function wreck(c: Cluster, o: { keepTemplateCache?: boolean } = {}): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const pids = await pidsBelow(c.R);
    if (!pids.length) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(100);
  }
  for (const img of ['disk.img', 'standby.img']) {
    const bound = (await execa('losetup', ['-j', `${c.R}/${img}`], { reject: false })).stdout;
    for (const dev of bound.split('\n').flatMap((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1] ?? []))
      await execa('losetup', ['-d', dev], { reject: false });
  }
  for (const d of [c.disk, c.sdisk]) {
    if (lstatSync(`/dev/${d}`, { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(`/dev/${d}`);
    rmSync(`/var/log/polar-runbook-pfsd-${d}.log`, { force: true });
  }
  for (const d of ['home/primary', 'home/replica1', 'home/standby', 'home/base', ...(o.keepTemplateCache ? [] : ['cache']), 'run'])
    rmSync(`${c.R}/${d}`, { recursive: true, force: true });
  mkdirSync(`${c.R}/run`);
  if (existsSync(`${c.R}/pristine/standby`)) await run(['cp', '-a', `${c.R}/pristine/standby`, `${c.R}/home/standby`]);
  for (const t of ['a', 'b']) rmSync(`/tmp/${c.spec.cluster}-templates-${t}`, { recursive: true, force: true });
  await run(['sync']);
}

const live = new Set<Cluster>();

export async function dropPolardbCluster(c: Cluster): Promise<void> {
  await wreck(c);
  rmSync(c.R, { recursive: true, force: true });
  live.delete(c);
}

/** For the bench's cleanup (Ctrl-C, failure): the stand-in clusters still there; returns the problems. */
export async function dropLivePolardbClusters(): Promise<string[]> {
  const problems: string[] = [];
  for (const c of [...live])
    await dropPolardbCluster(c).catch((err) => problems.push(`polardb stand-ins ${c.R}: ${(err as Error).message}`));
  return problems;
}

/** The seed's commands (PROCEDURE.md), in its order, run raw with no think time. */
export async function recoverRawSeed(c: Cluster): Promise<PolardbRun> {
  const { R, spec, disk, sdisk, ports } = c;
  const steps: [string, number][] = [];
  const t = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await fn();
    steps.push([what, Date.now() - t0]);
    return r;
  };
  const bin = `${R}/home/base/bin`;
  const attach = async (img: string, name: string) => {
    const dev = (await t('losetup -f', () => run(['losetup', '-f']))).stdout.trim();
    await t('losetup <dev> <image>', () => run(['losetup', dev, img]));
    await t('ln -s <dev> /dev/<disk>', () => run(['ln', '-s', dev, `/dev/${name}`]));
  };
  const pfsd = async (name: string) => {
    await t('start_pfsd.sh', () =>
      run([`${R}/pfsd/bin/start_pfsd.sh`, '-p', name, '-w', '1'], { out: `/var/log/polar-runbook-pfsd-${name}.log` }),
    );
    await t('pfs ls', () => run([`${R}/pfsd/bin/pfs`, '-C', 'disk', 'ls', `/${name}/`]));
  };
  const rebuild = async (name: string, local: string, tmp: string) => {
    const node = nodeNamed(spec, name);
    await t('mkdir local dir', () => run(asPg(['mkdir', local])));
    await t('polar-initdb.sh replica', () => run([`${bin}/polar-initdb.sh`, `${local}/`, `/${disk}/shared_data/`, 'replica']));
    await t('chmod -R 700', () => run(['chmod', '-R', '700', local]));
    await t('chown -R', () => run(['chown', '-R', 'postgres:postgres', local]));
    await t('initdb (config templates)', () => run(asPg([`${bin}/initdb`, '-D', tmp]), { out: '/dev/null' }));
    await t('cp *.conf', () => run(asPg(['sh', '-c', 'cp "$0"/*.conf "$1"/', tmp, local])));
    await t('rm -rf templates', () => run(['rm', '-rf', tmp]));
    await t('append the settings', () =>
      run(asPg(['sh', '-c', 'cat >> "$0"/postgresql.conf', local]), { input: renderBlock(polardbConfBlock(spec, node)) }),
    );
    await t('append the hba rules', () =>
      run(asPg(['sh', '-c', 'cat >> "$0"/pg_hba.conf', local]), { input: renderBlock(polardbHbaBlock(spec)) }),
    );
    if (node.role === 'replica') await t('touch replica.signal', () => run(asPg(['touch', `${local}/replica.signal`])));
  };
  const start = (local: string) =>
    t('pg_ctl start', () => run(asPg([`${bin}/pg_ctl`, 'start', '-D', local]), { out: `${local}/pg_ctl-start.log` }));

  const t0 = Date.now();
  // steps 2-4: the shared disk on pb1 (pb2's host would only link it: one host here), pfsd, check
  await attach(`${R}/disk.img`, disk);
  await pfsd(disk);
  // step 5: binaries
  await t('cp -r binaries', () => run(asPg(['cp', '-r', `${R}/shared/base`, `${R}/home/base`])));
  // step 6: the RW node
  await rebuild('pb1', `${R}/home/primary`, `/tmp/${spec.cluster}-templates-a`);
  await start(`${R}/home/primary`);
  // step 7: the slots survived
  await t('check the slots', () => psql(ports[0]!, 'select slot_name, active from pg_replication_slots'));
  // step 8: the standby on its own disk, its local dir kept
  await attach(`${R}/standby.img`, sdisk);
  await pfsd(sdisk);
  await start(`${R}/home/standby`);
  // step 9: the RO node
  await rebuild('pb2', `${R}/home/replica1`, `/tmp/${spec.cluster}-templates-b`);
  await start(`${R}/home/replica1`);
  // step 10: a write on the RW node, seen on the RO node and the standby
  const id = `raw-${Date.now()}`;
  await t('write a probe row', () =>
    psql(
      ports[0]!,
      `create table if not exists polar_runbook_probe (id text primary key, written_at timestamptz not null default now()); insert into polar_runbook_probe (id) values ('${id}')`,
    ),
  );
  await t('see it on pb2 and pb3', async () => {
    for (const port of [ports[1]!, ports[2]!]) {
      for (let i = 0; ; i++) {
        const r = await psql(port, `select count(*) from polar_runbook_probe where id = '${id}'`).catch(() => ({ stdout: '0' }));
        if (r.stdout.trim() === '1') break;
        if (i > 600) throw new Error(`the probe row did not reach the node on port ${port} in 60 s`);
        await sleep(100);
      }
    }
  });
  return { mode: 'raw', rtoMs: Date.now() - t0, steps };
}

export async function recoverPolardbViaWorkflow(client: Client, c: Cluster, mode: PolardbRun['mode'] = 'workflow'): Promise<PolardbRun> {
  const { handle } = await startOrAttachRecovery(client, c.spec.cluster, { spec: c.spec, trigger: 'drill' });
  try {
    const report = (await handle.result()) as RecoveryReport;
    if (report.outcome !== 'recovered') throw new Error(`the polardb recovery ended ${report.outcome}`);
    return {
      mode,
      rtoMs: report.rtoMs,
      steps: report.steps.map((s) => [s.id, s.durationMs ?? NaN]),
      timeline: timeline(report.steps, Date.parse(report.startedAt)),
    };
  } catch (err) {
    await handle.terminate('benchmark: failed').catch(() => {});
    throw err;
  }
}

export async function polardbSection(client: Client, reps: number, say: (l: string) => void): Promise<{ runs: PolardbRun[] }> {
  if (!existsSync(`${PG_BIN}/initdb`))
    throw new Error(`${PG_BIN}/initdb is missing: the polardb section needs the real initdb (scripts/setup.sh installs PostgreSQL 15)`);
  const c = await buildPolardbCluster();
  say(`polardb: stand-in cluster ${c.spec.cluster} in ${c.R} (ports ${c.ports.join(', ')})`);
  const runs: PolardbRun[] = [];
  try {
    // Warm-up (not counted): the first PostgreSQL starts and the first bundle load.
    await wreck(c);
    await recoverPolardbViaWorkflow(client, c);
    for (let i = 1; i <= reps; i++) {
      // raw, then the workflow on new hosts (no template cache), then again with the cache it left.
      for (const mode of ['raw', 'workflow', 'workflow-warm'] as const) {
        await wreck(c, { keepTemplateCache: mode === 'workflow-warm' });
        const r = mode === 'raw' ? await recoverRawSeed(c) : await recoverPolardbViaWorkflow(client, c, mode);
        runs.push(r);
        say(`  polardb ${mode} #${i}: RTO ${sec(r.rtoMs)}`);
      }
    }
  } finally {
    await dropPolardbCluster(c).catch((err) => say(`polardb cleanup: ${(err as Error).message}`));
  }
  return { runs };
}
