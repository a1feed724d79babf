// The polardb profile's activities, end to end on this machine through the real LocalHost, with a
// real loop device, against stand-ins for the PolarDB-only tools (start_pfsd.sh/pfsdaemon, pfs,
// polar-initdb.sh, initdb, pg_ctl/postgres, psql) that behave as POLARDB-NOTES.md describes and
// log every call. Every activity runs twice: the second run must call no acting tool again.
// The stand-ins: test/helpers/polardb-standins.ts (shared with the benchmark's polardb section).
// startNode's activity waits for a database to answer, which stand-ins cannot do: its op is run
// through runOps directly, as the activity does before that wait.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { createActivities } from '../activities/index.js';
import { hostFor } from '../lib/hosts/index.js';
import { Journal, probe, runOps } from '../lib/ops.js';
import { polardbProfile, pfsdRunning } from '../lib/profiles/polardb.js';
import { MARKER_BEGIN } from '../lib/profiles/types.js';
import type { StepResult } from '../lib/model/report.js';
import { standinSpecInput, writeStandins } from './helpers/polardb-standins.js';
import { nodeNamed, parseSpec, type ClusterSpec, type ClusterSpecInput } from '../lib/model/spec.js';

if (process.getuid?.() !== 0) throw new Error('this test attaches a loop device: run it as root');

const hex = randomBytes(4).toString('hex');
/** Unique names: /dev/<name> never collides. No '-' in them: start_pfsd.sh matches them with grep -w. */
const DISK = `prb${hex}`;
const WRONG = `prb${hex}w`; // a PFS disk without the shared data dir
const SDISK = `prb${hex}s`; // the standby's own disk
const NOTPFS = `prb${hex}x`; // not a PFS disk at all
const CLUSTER = `prbt${hex}`;
const ALL_DISKS = [DISK, WRONG, SDISK, NOTPFS];
const STEP_LIMIT_MS = 20_000;

let R = ''; // the temp root; everything but /dev/<name>, /var/log/polar-runbook-pfsd-<name>.log and the /tmp templates lives here
let LOG = '';
let pgUid = 0;
let pgGid = 0;

/** The fake PFS disks: the shared one as the seed lists it, one lacking the data dir, one not PFS. */
function makePfsDisks(): void {
  const file = (p: string, text = '') => {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  };
  for (const d of [DISK, WRONG, SDISK]) for (const f of ['.pfs-paxos', '.pfs-journal']) file(join(R, 'pfs', d, f));
  for (const oid of ['1', '4', '5']) mkdirSync(join(R, 'pfs', DISK, 'shared_data', 'base', oid), { recursive: true });
  file(join(R, 'pfs', DISK, 'shared_data', 'PG_VERSION'), '15\n');
  mkdirSync(join(R, 'pfs', NOTPFS), { recursive: true });
}

// --- helpers -------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as { port: number };
  await new Promise((ok) => s.close(ok));
  return port;
}

let ports: number[] = [];
const specDoc = (): ClusterSpecInput => standinSpecInput({ cluster: CLUSTER, root: R, disk: DISK, standbyDisk: SDISK, ports });
const variant = (edit: (d: ClusterSpecInput) => void): ClusterSpec => {
  const d = specDoc();
  edit(d);
  return parseSpec(d);
};

const acts = createActivities({ hostFor });

/** The calls logged since the last time this was asked. */
let seen = 0;
function newCalls(): string[] {
  const all = readFileSync(LOG, 'utf8').split('\n').filter(Boolean);
  const out = all.slice(seen);
  seen = all.length;
  return out;
}

/** A step that must return promptly: a host layer waiting for EOF on a daemon's stdio would hang here. */
async function within<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `${what} did not return within ${STEP_LIMIT_MS / 1000} s: the host layer waits for EOF on the stdio a daemon keeps open`,
          ),
        ),
      STEP_LIMIT_MS,
    );
  });
  p.catch(() => {}); // settled after the limit: already reported
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** What startNode runs before it waits for connections. */
async function startNodeOps(spec: ClusterSpec, name: string): Promise<Journal> {
  const node = nodeNamed(spec, name);
  const j = new Journal();
  await runOps(hostFor(node), [polardbProfile.startNode(spec, node)], j);
  return j;
}

const pidsOf = async (pattern: string): Promise<number[]> =>
  (await execa('pgrep', ['-f', pattern], { reject: false })).stdout.split('\n').filter(Boolean).map(Number);

/** Every file and dir below `dir` with its mode, owner and content. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    out.push(`${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isFile() ? readFileSync(p, 'utf8') : ''}`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
  };
  walk(dir);
  return out;
}

async function failsWith(p: Promise<unknown>, type: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApplicationFailure, `not a typed failure: ${e}`);
    assert.equal(e.type, type, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

// --- setup and cleanup -----------------------------------------------------------------------

const cacheDir = () => `${R}/cache/postgres`;
/** A template cache entry a SIGKILLed fill left half made, two hours ago: the next fill removes it. */
const staleEntry = () => `${cacheDir()}/.new-crashed`;

before(async () => {
  R = await mkdtemp('/tmp/prb-standins-');
  chmodSync(R, 0o755);
  LOG = join(R, 'calls.log');
  writeFileSync(LOG, '');
  chmodSync(LOG, 0o666);
  pgUid = Number((await execa('id', ['-u', 'postgres'])).stdout);
  pgGid = Number((await execa('id', ['-g', 'postgres'])).stdout);
  ports = [await freePort(), await freePort(), await freePort()];
  writeStandins({ root: R, log: LOG });
  makePfsDisks();
  for (const img of ['disk.img', 'standby.img']) await execa('truncate', ['-s', '16M', join(R, img)]);
  // The compute host's home: the database user's, as in the seed.
  mkdirSync(join(R, 'home'));
  chownSync(join(R, 'home'), pgUid, pgGid);
  // The standby's local dir survived the disaster (seed step 8).
  const standby = join(R, 'home/standby');
  mkdirSync(standby, { mode: 0o700 });
  writeFileSync(join(standby, 'postgresql.conf'), `# the standby's own config\nport=${ports[2]}\n`);
  for (const p of [standby, join(standby, 'postgresql.conf')]) chownSync(p, pgUid, pgGid);
  // A crashed earlier fill of the template cache left its temp dir behind.
  mkdirSync(staleEntry(), { recursive: true });
  writeFileSync(join(staleEntry(), 'postgresql.conf'), 'half written');
  for (const p of [cacheDir(), staleEntry(), join(staleEntry(), 'postgresql.conf')]) chownSync(p, pgUid, pgGid);
  chmodSync(cacheDir(), 0o700);
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(staleEntry(), twoHoursAgo, twoHoursAgo);
});

after(async () => {
  if (!R) return;
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  // Our fake daemons and postmasters: their command lines hold our unique temp root.
  for (const pid of await pidsOf(`${R}/`)) await attempt(`kill ${pid}`, () => process.kill(pid, 'SIGTERM'));
  for (const img of ['disk.img', 'standby.img']) {
    const bound = (await execa('losetup', ['-j', join(R, img)], { reject: false })).stdout;
    for (const dev of bound.split('\n').flatMap((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1] ?? []))
      await attempt(`losetup -d ${dev}`, () => execa('losetup', ['-d', dev]));
  }
  for (const d of ALL_DISKS) {
    const link = `/dev/${d}`;
    await attempt(`rm ${link}`, () => lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() && unlinkSync(link));
    await attempt(`rm pfsd log of ${d}`, () => rmSync(`/var/log/polar-runbook-pfsd-${d}.log`, { force: true }));
  }
  await attempt(`rm ${R}`, () => rmSync(R, { recursive: true, force: true }));
  if (problems.length) throw new Error(`cleanup: ${problems.join('; ')}`);
});

// --- the tests ---------------------------------------------------------------------------------

describe('the polardb activities on this host, against stand-ins', () => {
  let spec: ClusterSpec;
  type Done = Pick<StepResult, 'changed' | 'commands'>;
  const results: Record<string, Done>[] = [];

  /** The workflow's order: shared disk, pfsd, binaries, primary, standby, replica. */
  async function recoverOnce(): Promise<Record<string, Done>> {
    const r: Record<string, Done> = {};
    const step = async (key: string, run: () => Promise<Done>) => void (r[key] = await within(key, run()));
    await step('attach pb1', () => acts.attachStorage(spec, 'pb1', 'shared'));
    await step('attach pb2', () => acts.attachStorage(spec, 'pb2', 'shared'));
    await step('pfsd pb1', () => acts.startStorageDaemon(spec, 'pb1', 'shared'));
    await step('pfsd pb2', () => acts.startStorageDaemon(spec, 'pb2', 'shared'));
    for (const n of ['pb1', 'pb2', 'pb3']) await step(`binaries ${n}`, () => acts.prepareBinaries(spec, n));
    await step('build pb1', () => acts.buildNode(spec, 'pb1'));
    await step('start pb1', () => startNodeOps(spec, 'pb1'));
    await step('attach pb3', () => acts.attachStorage(spec, 'pb3', 'own'));
    await step('pfsd pb3', () => acts.startStorageDaemon(spec, 'pb3', 'own'));
    await step('build pb3', () => acts.buildNode(spec, 'pb3'));
    await step('start pb3', () => startNodeOps(spec, 'pb3'));
    await step('build pb2', () => acts.buildNode(spec, 'pb2'));
    await step('start pb2', () => startNodeOps(spec, 'pb2'));
    return r;
  }

  before(() => {
    spec = variant(() => {});
  });

  test('first run: the seed procedure, each tool called once, in order, with the seed arguments', async () => {
    newCalls();
    results.push(await recoverOnce());
    const pfsd = (d: string) => [
      `root start_pfsd.sh -p ${d} -w 1`,
      `root pfsdaemon -p ${d} -w 1 -c ${R}/pfsd/bin/../conf/pfsd_logger.conf`,
    ];
    const start = (dir: string) => [`postgres pg_ctl start -D ${R}/home/${dir}`, `postgres postgres -D ${R}/home/${dir}`];
    const calls = newCalls();
    // The one throwaway initdb, in a temp dir of the cache (its name is random).
    const fill = calls.findIndex((c) => c.startsWith(`postgres initdb -D ${cacheDir()}/.new-`));
    assert.match(calls[fill] ?? '', new RegExp(`^postgres initdb -D ${cacheDir()}/\\.new-[A-Za-z0-9]{6}/initdb$`));
    calls[fill] = 'postgres initdb -D <cache temp dir>';
    const version = 'postgres initdb --version';
    assert.deepEqual(calls, [
      ...pfsd(DISK),
      `root pfs -C disk ls /${DISK}/`, // pb1's check
      `root pfs -C disk ls /${DISK}/`, // pb2's check (same machine: its pfsd already runs)
      'postgres psql --version',
      version, // pb1: are this initdb's templates cached? no:
      version,
      'postgres initdb -D <cache temp dir>', // the only throwaway initdb, filling the cache
      'postgres psql --version',
      version, // pb2 (same host): cached
      'postgres psql --version', // pb3, the standby: keeps its dir, needs no templates
      `root polar-initdb.sh ${R}/home/primary/ /${DISK}/shared_data/ replica`,
      version, // the templates copied from the cache
      ...start('primary'),
      ...pfsd(SDISK),
      `root pfs -C disk ls /${SDISK}/`,
      ...start('standby'),
      `root polar-initdb.sh ${R}/home/replica1/ /${DISK}/shared_data/ replica`,
      version,
      ...start('replica1'),
    ]);
    // All nodes share this machine: pb2 finds pb1's link, pfsd and binaries; pb3 keeps its dir.
    const changed = Object.entries(results[0]!).flatMap(([k, r]) => (r.changed ? [k] : []));
    assert.deepEqual(changed, [
      'attach pb1',
      'pfsd pb1',
      'binaries pb1',
      'build pb1',
      'start pb1',
      'attach pb3',
      'pfsd pb3',
      'start pb3',
      'build pb2',
      'start pb2',
    ]);
  });

  test('second run: only checks and probes; nothing changes', async () => {
    newCalls();
    results.push(await recoverOnce());
    assert.deepEqual(newCalls(), [
      `root pfs -C disk ls /${DISK}/`,
      `root pfs -C disk ls /${DISK}/`,
      'postgres psql --version',
      'postgres initdb --version', // the cache probe
      'postgres psql --version',
      'postgres initdb --version',
      'postgres psql --version',
      `root pfs -C disk ls /${SDISK}/`,
    ]);
    for (const [k, r] of Object.entries(results[1]!))
      assert.equal(r.changed, false, `${k} changed something on the second run: ${r.commands?.join('; ')}`);
  });

  test('pfsd and the postmasters write to files: the steps returned while they hold their stdio', async () => {
    for (const d of [DISK, SDISK]) {
      const [pid, ...more] = await pidsOf(`${R}/pfsd/bin/../bin/pfsdaemon -p ${d} `);
      assert.ok(pid && more.length === 0, `one fake pfsdaemon for ${d}`);
      const out = `/var/log/polar-runbook-pfsd-${d}.log`;
      for (const fd of [1, 2]) assert.equal(readlinkSync(`/proc/${pid}/fd/${fd}`), out, `pfsdaemon's fd ${fd}`);
      assert.match(readFileSync(out, 'utf8'), new RegExp(`pfsdaemon ${d} start success`));
      assert.ok(await probe(hostFor(nodeNamed(spec, 'pb1')), pfsdRunning({ diskName: d })), 'the skip probe finds the daemon');
    }
    for (const dir of ['primary', 'replica1', 'standby']) {
      const local = `${R}/home/${dir}`;
      const pid = Number(readFileSync(`${local}/postmaster.pid`, 'utf8'));
      assert.equal(readlinkSync(`/proc/${pid}/fd/1`), `${local}/pg_ctl-start.log`);
      assert.equal(readlinkSync(`/proc/${pid}/cwd`), local, 'the postmaster runs in its local dir: the skip probe finds it there');
      const out = readFileSync(`${local}/pg_ctl-start.log`, 'utf8');
      assert.ok(out.includes('server started') && out.includes(`postmaster -D ${local} listening`), out);
    }
  });

  test('the local dirs: private, the database user owns them, config blocks exactly once', () => {
    for (const [dir, hostId] of [
      ['primary', 1],
      ['replica1', 2],
    ] as const) {
      const local = `${R}/home/${dir}`;
      const st = statSync(local);
      assert.equal(st.mode & 0o777, 0o700, `${local} mode`);
      for (const f of [
        '',
        'PG_VERSION',
        'base/1',
        'base/5',
        'global',
        'postgresql.conf',
        'pg_hba.conf',
        'polar_settings.conf',
        '.polar-runbook',
      ])
        assert.equal(statSync(join(local, f)).uid, pgUid, `${local}/${f} owned by postgres`);
      assert.equal(readFileSync(`${local}/PG_VERSION`, 'utf8'), '15\n');
      const conf = readFileSync(`${local}/postgresql.conf`, 'utf8');
      assert.ok(conf.startsWith('# postgresql.conf written by initdb\n'), 'the template stays, our block follows');
      assert.equal(count(conf, MARKER_BEGIN), 1);
      for (const line of [
        `port=${ports[hostId - 1]}`,
        `polar_hostid=${hostId}`,
        `polar_disk_name='${DISK}'`,
        `polar_datadir='/${DISK}/shared_data/'`,
        "polar_storage_cluster_name='disk'",
      ])
        assert.equal(count(conf, `\n${line}\n`), 1, line);
      const hba = readFileSync(`${local}/pg_hba.conf`, 'utf8');
      assert.equal(count(hba, MARKER_BEGIN), 1);
      assert.match(hba, /\nhost all all 0\.0\.0\.0\/0 md5\nhost replication postgres 127\.0\.0\.0\/8 trust\n/);
    }
    // One cache entry for these binaries, made for their version; the throwaway initdb and the
    // stale half entry are gone.
    const entries = readdirSync(cacheDir()).filter((e) => e !== '.lock');
    assert.equal(entries.length, 1, entries.join(', '));
    assert.match(entries[0]!, /^[0-9a-f]{16}$/);
    assert.equal(readFileSync(join(cacheDir(), entries[0]!, 'VERSION'), 'utf8'), 'initdb (PostgreSQL) 15.8\n');
    assert.deepEqual(readdirSync(join(cacheDir(), entries[0]!)).sort(), [
      'VERSION',
      'pg_hba.conf',
      'pg_ident.conf',
      'polar_settings.conf',
      'postgresql.auto.conf',
      'postgresql.conf',
    ]);
    assert.equal(statSync(cacheDir()).mode & 0o777, 0o700);
    const replica = readFileSync(`${R}/home/replica1/postgresql.conf`, 'utf8');
    assert.ok(
      replica.includes(
        `\nprimary_slot_name='replica1'\nprimary_conninfo='host=127.0.0.1 port=${ports[0]} user=postgres dbname=postgres application_name=replica1'\n`,
      ),
    );
    assert.ok(existsSync(`${R}/home/replica1/replica.signal`));
    assert.ok(!existsSync(`${R}/home/primary/replica.signal`));
    assert.ok(!readFileSync(`${R}/home/primary/postgresql.conf`, 'utf8').includes('primary_conninfo'));
    assert.equal(
      readFileSync(`${R}/home/standby/postgresql.conf`, 'utf8'),
      `# the standby's own config\nport=${ports[2]}\n`,
      "the standby's config is its own",
    );
  });

  test('a non-empty local dir without our mark: ForeignDataDir, nothing in it changed', async () => {
    const foreign = `${R}/home/foreign`;
    mkdirSync(`${foreign}/base/1`, { recursive: true });
    writeFileSync(`${foreign}/PG_VERSION`, '14\n');
    writeFileSync(`${foreign}/postgresql.conf`, "data_directory = '/elsewhere'\n");
    const before = snapshot(foreign);
    newCalls();
    const s = variant((d) => void (d.nodes[0]!.localDir = foreign));
    await failsWith(acts.buildNode(s, 'pb1'), 'ForeignDataDir', /not empty and was not created by polar-runbook/);
    assert.deepEqual(snapshot(foreign), before);
    assert.deepEqual(newCalls(), [], 'no tool ran');
  });

  test('a standby without its local dir: a clear failure, nothing created', async () => {
    const s = variant((d) => void (d.nodes[2]!.localDir = `${R}/home/lost`));
    await assert.rejects(acts.buildNode(s, 'pb3'), /home\/lost\/postgresql\.conf is missing: a standby keeps its local dir/);
    assert.ok(!existsSync(`${R}/home/lost`));
  });

  test('a shared disk whose PFS shows no shared data dir: NotAPfsDisk', async () => {
    const s = variant((d) => {
      d.storage.diskName = WRONG;
      d.storage.dataDir = `/${WRONG}/shared_data`;
    });
    await failsWith(
      within('pfsd on the wrong disk', acts.startStorageDaemon(s, 'pb1', 'shared')),
      'NotAPfsDisk',
      /no directory shared_data .*wrong disk, or not a PFS disk/,
    );
  });

  test('a standby disk that is not PFS: NotAPfsDisk', async () => {
    const s = variant((d) => void (d.nodes[2]!.storage!.diskName = NOTPFS));
    await failsWith(
      within('pfsd on a disk that is not PFS', acts.startStorageDaemon(s, 'pb3', 'own')),
      'NotAPfsDisk',
      /lists no \.pfs-paxos, \.pfs-journal: wrong disk, or not a PFS disk/,
    );
  });

  test('the stand-ins behave as the notes say', async () => {
    const host = hostFor(nodeNamed(spec, 'pb1'));
    const again = await host.run({ argv: [`${R}/pfsd/bin/start_pfsd.sh`, '-p', DISK, '-w', '1'], as: 'root', timeoutMs: 10_000 });
    assert.deepEqual([again.exitCode, again.stdout], [1, `${DISK} already exist`]);
    const init = (mode: string) =>
      host.run({
        argv: [`${R}/shared/base/bin/polar-initdb.sh`, `${R}/home/primary/`, `/${DISK}/shared_data/`, mode],
        as: 'root',
        timeoutMs: 10_000,
      });
    const primary = await init('primary');
    assert.deepEqual([primary.exitCode, primary.stdout], [1, `/${DISK}/shared_data/ dir not empty`]);
    const bogus = await init('rw');
    assert.deepEqual([bogus.exitCode, bogus.stderr], [1, 'invalid node type']);
  });
});
