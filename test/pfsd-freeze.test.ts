// The pfsd-freeze copy method and the sandbox's pfsd teardown, on this machine through the real
// LocalHost, with a real loop device, against stand-in pfsdaemons that behave as POLARDB-NOTES.md
// says where it matters here: real processes found by their command line (`pfsdaemon -p <disk>
// -w 1 -c <conf>`), writing to their disk all along. The freeze must stop exactly the daemons
// serving the copied disks, resume them always (also past maxFreezeSeconds), and the teardown
// must leave nothing of the sandbox's pfsd while production's stays untouched.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { hostFor } from '../lib/hosts/index.js';
import { Journal } from '../lib/ops.js';
import { pfsdRunning } from '../lib/profiles/polardb.js';
import { cleanSandboxPfsd, copyDisks, copyStandbyDirs, makeSandboxDir, markerText, PFSD_PATHS } from '../lib/sandbox.js';
import { sandboxSpec, type Sandbox } from '../lib/model/sandbox.js';
import { parseSpec, type ClusterSpec } from '../lib/model/spec.js';

if (process.getuid?.() !== 0) throw new Error('this test attaches a loop device: run it as root');

const hex = randomBytes(3).toString('hex');
const DISK = `prf${hex}`; // the production disk the drill copies
const OTHER = `prf${hex}o`; // another disk on the host: its pfsd must never be stopped
let R = '';
let loop = '';
const daemons: number[] = [];

/**
 * A stand-in pfsdaemon: ticks into a file and writes the time to its device (if any) every ~10 ms.
 * Like the real one it never forks copies of itself (only bash builtins in its loop): a fork would
 * carry the daemon's command line for an instant and be found beside it by the freeze.
 */
const PFSDAEMON = `#!/bin/bash
disk=$2
dev=$(cat "$PFSD_STANDIN_DIR/dev-$disk" 2>/dev/null)
nap="$PFSD_STANDIN_DIR/nap-$disk"
mkfifo "$nap" 2>/dev/null
exec 3<> "$nap"
while :; do
  t=\${EPOCHREALTIME/./}
  t=\${t:0:13}
  echo "$t" >> "$PFSD_STANDIN_DIR/$disk.ticks"
  [ -n "$dev" ] && printf '%-511s\\n' "$t" 1<> "$dev"
  read -r -t 0.01 -u 3 _
done
`;

async function startDaemon(disk: string): Promise<number> {
  const p = execa('setsid', ['bash', `${R}/pfsd/bin/pfsdaemon`, '-p', disk, '-w', '1', '-c', `${R}/pfsd/conf/pfsd_logger.conf`], {
    env: { PFSD_STANDIN_DIR: R },
    stdio: 'ignore',
    reject: false,
  });
  p.unref();
  daemons.push(p.pid!);
  for (let i = 0; !existsSync(`${R}/${disk}.ticks`); i++) {
    assert.ok(i < 100, `the stand-in pfsdaemon of ${disk} ticks`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return p.pid!;
}

const stateOf = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]!;
const ticks = (disk: string): number[] => readFileSync(`${R}/${disk}.ticks`, 'utf8').split('\n').filter(Boolean).map(Number);
const maxGap = (ts: number[], from: number): number => {
  let gap = 0;
  for (let i = 1; i < ts.length; i++) if (ts[i]! >= from) gap = Math.max(gap, ts[i]! - ts[i - 1]!);
  return gap;
};

function specOf(image: string, maxFreezeSeconds: number): ClusterSpec {
  return parseSpec({
    cluster: `prf${hex}`,
    profile: 'polardb',
    storage: { image, diskName: DISK, dataDir: `/${DISK}/shared_data` },
    binaries: { dir: `${R}/bin` },
    replication: { network: '127.0.0.1/32' },
    nodes: [{ name: 'pb1', role: 'primary', host: { transport: 'local' }, address: '127.0.0.1', port: 1, localDir: `${R}/pb1`, hostId: 1 }],
    drill: { copyMethod: 'pfsd-freeze', sandboxRoot: `${R}/drills`, maxFreezeSeconds },
  });
}

async function sandboxOf(spec: ClusterSpec, name: string): Promise<Sandbox> {
  const sb = sandboxSpec(spec, { root: `${R}/drills`, name, ports: [2], seed: hex.padEnd(6, '0').slice(0, 6) });
  await makeSandboxDir(hostFor(spec.nodes[0]!), sb, markerText(sb, { workflowId: 'drill/test', runId: name }), [], new Journal());
  return sb;
}

before(async () => {
  R = mkdtempSync('/tmp/polar-pfsd-freeze-');
  mkdirSync(`${R}/pfsd/bin`, { recursive: true });
  mkdirSync(`${R}/pfsd/conf`, { recursive: true });
  writeFileSync(`${R}/pfsd/bin/pfsdaemon`, PFSDAEMON, { mode: 0o755 });
  mkdirSync(`${R}/img`);
  // 192 MiB of data: a copy that takes a moment (no reflinks on this filesystem).
  await execa('dd', ['if=/dev/urandom', `of=${R}/img/prod.img`, 'bs=1M', 'count=192', 'status=none']);
  loop = (await execa('losetup', ['-f', '--show', `${R}/img/prod.img`])).stdout.trim();
  writeFileSync(`${R}/dev-${DISK}`, loop);
});

after(async () => {
  for (const pid of daemons) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (loop) await execa('losetup', ['-d', loop], { reject: false });
  for (const d of [DISK, OTHER])
    for (const p of [
      `${PFSD_PATHS.run}/${d}`,
      `${PFSD_PATHS.run}/pfsd_${d}.pid`,
      `${PFSD_PATHS.log}/pfsd-${d}`,
      `${PFSD_PATHS.shm}/shm_pfsd-${d}_01`,
    ])
      rmSync(p, { recursive: true, force: true });
  if (R) rmSync(R, { recursive: true, force: true });
});

test('pfsd-freeze: the disk’s pfsdaemon is stopped (seen stopped) while in-flight I/O drains and the image is copied, then resumed; other disks’ pfsd never stop', async (t) => {
  const pid = await startDaemon(DISK);
  const other = await startDaemon(OTHER);
  const spec = specOf(`${R}/img/prod.img`, 60);
  const sb = await sandboxOf(spec, `f-20240101T000001`);
  const j = new Journal();
  // Watch the daemons' state while the copy runs.
  const seen = new Set<string>();
  const seenOther = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      seen.add(stateOf(pid));
      seenOther.add(stateOf(other));
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const t0 = Date.now();
  const [copy] = await copyDisks(hostFor(spec.nodes[0]!), spec, sb, sb.copies, j).finally(() => (watching = false));
  await watcher;
  t.diagnostic(`pfsd stopped for ${copy!.frozenMs} ms to copy 192 MiB (no reflinks here); copy step ${copy!.ms} ms`);
  assert.equal(copy!.method, 'pfsd-freeze+cp');
  assert.deepEqual(copy!.stopped, [pid], 'exactly the pfsdaemon of the copied disk, found by its command line');
  assert.deepEqual(copy!.frozen, [loop], 'its loop device drained');
  assert.ok(seen.has('T'), `the pfsdaemon was seen stopped (states seen: ${[...seen].join(', ')})`);
  assert.ok(!seenOther.has('T'), 'the other disk’s pfsdaemon never stopped');
  assert.notEqual(stateOf(pid), 'T', 'resumed');
  // It stood still for the whole stop, and ticks again.
  const gap = maxGap(ticks(DISK), t0);
  assert.ok(gap >= copy!.frozenMs! * 0.8, `the daemon ticked nothing for ${gap} ms of the ${copy!.frozenMs} ms stop`);
  const last = ticks(DISK).at(-1)!;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(ticks(DISK).at(-1)! > last, 'the daemon works again after SIGCONT');
  assert.match(j.commands.join('\n'), new RegExp(`kill -STOP ${pid}; .*cp --sparse=always --reflink=auto .*; kill -CONT ${pid}`));
  // The copy is the image as it was during the stop: same size, in place under its final name.
  assert.equal(readFileSync(sb.copies[0]!.target).length, 192 * 1024 * 1024);
  assert.equal(existsSync(`${sb.copies[0]!.target}.partial`), false);
  // No watchdog left behind.
  const wd = await execa('pgrep', ['-f', 'pfsd-freeze-watchdog'], { reject: false });
  assert.equal(wd.stdout.trim(), '', 'the watchdog is gone');
});

test('pfsd-freeze past maxFreezeSeconds: the copy is stopped, pfsd resumed, the drill told why', async () => {
  const pid = daemons[0]!;
  // A source that never finishes reading (a FIFO nobody writes): the copy would stall forever.
  const fifo = `${R}/img/stuck.img`;
  await execa('mkfifo', [fifo]);
  const spec = specOf(fifo, 1);
  const sb = await sandboxOf(spec, `f-20240101T000002`);
  const t0 = Date.now();
  await assert.rejects(copyDisks(hostFor(spec.nodes[0]!), spec, sb, sb.copies, new Journal()), (err: Error & { type?: string }) => {
    assert.equal(err.type, 'SnapshotFailed');
    assert.match(err.message, /took longer than drill\.maxFreezeSeconds = 1 s; it was stopped and pfsd \d+ resumed/);
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took < 15_000, `bounded: ${took} ms`);
  assert.notEqual(stateOf(pid), 'T', 'resumed');
  // How long it stood still is not asserted: the bound counts from the script's start, and on a
  // loaded machine the set-up may use up most of it (the stop itself is proven by the test above).
  assert.ok(maxGap(ticks(DISK), t0) < 3000, 'never stopped for longer than the bound allows');
  const last = ticks(DISK).at(-1)!;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(ticks(DISK).at(-1)! > last, 'the daemon works again');
});

test('teardown of a sandbox disk’s pfsd: its daemon stopped, its pid file, run dir, shared memory and logs removed; production’s untouched', async () => {
  const spec = specOf(`${R}/img/prod.img`, 60);
  const sb = await sandboxOf(spec, `f-20240101T000003`);
  const sbDisk = sb.copies[0]!.disk.diskName;
  assert.match(sbDisk, new RegExp(`^${DISK}_d[0-9a-f]{6}$`));
  const files = (d: string) => [
    `${PFSD_PATHS.run}/${d}`,
    `${PFSD_PATHS.run}/pfsd_${d}.pid`,
    `${PFSD_PATHS.shm}/shm_pfsd-${d}_01`,
    `${PFSD_PATHS.log}/pfsd-${d}`,
  ];
  for (const d of [sbDisk, DISK]) {
    mkdirSync(`${PFSD_PATHS.run}/${d}`, { recursive: true });
    mkdirSync(PFSD_PATHS.shm, { recursive: true });
    mkdirSync(`${PFSD_PATHS.log}/pfsd-${d}`, { recursive: true });
    writeFileSync(`${PFSD_PATHS.run}/pfsd_${d}.pid`, '1\n');
    writeFileSync(`${PFSD_PATHS.shm}/shm_pfsd-${d}_01`, '');
    writeFileSync(`${PFSD_PATHS.log}/pfsd-${d}/pfsd.log`, 'log\n');
  }
  const sbPid = await startDaemon(sbDisk);
  try {
    const removed = await cleanSandboxPfsd(hostFor(spec.nodes[0]!), sbDisk, pfsdRunning, new Journal());
    assert.deepEqual(removed.sort(), files(sbDisk).sort());
    for (const f of files(sbDisk)) assert.equal(existsSync(f), false, `${f} removed`);
    assert.equal(existsSync(`/proc/${sbPid}`) && stateOf(sbPid) !== 'Z', false, 'the sandbox pfsdaemon is gone');
    for (const f of files(DISK)) assert.equal(existsSync(f), true, `production's ${f} untouched`);
    for (const pid of daemons.slice(0, 2)) assert.notEqual(stateOf(pid), 'Z', 'production pfsdaemons still run');
    // A production disk name is refused outright.
    await assert.rejects(cleanSandboxPfsd(hostFor(spec.nodes[0]!), DISK, pfsdRunning, new Journal()), /is not a sandbox disk name/);
    assert.equal(existsSync(`${PFSD_PATHS.run}/pfsd_${DISK}.pid`), true);
  } finally {
    for (const f of files(sbDisk)) rmSync(f, { recursive: true, force: true });
  }
});

test('a polardb standby in a drill: its local dir is copied from its host into the sandbox and pointed at the sandbox', async () => {
  const prodDir = `${R}/pb3`;
  mkdirSync(`${prodDir}/pg_log`, { recursive: true });
  writeFileSync(`${prodDir}/postgresql.conf`, "port=5434\npolar_hostid=3\npolar_disk_name='prod'\n");
  writeFileSync(`${prodDir}/postgresql.auto.conf`, "primary_conninfo = 'host=10.0.0.1 port=5432 user=postgres'\n");
  writeFileSync(`${prodDir}/standby.signal`, '');
  writeFileSync(`${prodDir}/postmaster.pid`, '12345\n');
  writeFileSync(`${prodDir}/pg_log/big.log`, 'x'.repeat(1000));
  const spec = parseSpec({
    ...specOf(`${R}/img/prod.img`, 60),
    nodes: [
      ...specOf(`${R}/img/prod.img`, 60).nodes,
      {
        name: 'pb3',
        role: 'standby',
        host: { transport: 'local' },
        address: '127.0.0.1',
        port: 3,
        localDir: prodDir,
        hostId: 3,
        slot: 'standby1',
        storage: { image: `${R}/img/standby.img`, diskName: OTHER, dataDir: `/${OTHER}/shared_data` },
      },
    ],
  });
  const sb = sandboxSpec(spec, { root: `${R}/drills`, name: 'f-20240101T000004', ports: [4, 5], seed: hex });
  const node = sb.spec.nodes.find((n) => n.name === 'pb3')!;
  await makeSandboxDir(hostFor(spec.nodes[0]!), sb, markerText(sb, { workflowId: 'drill/test', runId: 'x' }), sb.dirs, new Journal());
  const j = new Journal();
  const copied = await copyStandbyDirs(spec, sb, hostFor, j);
  assert.deepEqual(copied, [{ node: 'pb3', from: prodDir, to: node.localDir }]);
  assert.deepEqual(readdirSync(node.localDir).sort(), ['pg_log', 'postgresql.auto.conf', 'postgresql.conf', 'standby.signal']);
  assert.deepEqual(readdirSync(`${node.localDir}/pg_log`), [], 'the logs stay behind');
  assert.equal(readFileSync(`${node.localDir}/postgresql.conf`, 'utf8'), readFileSync(`${prodDir}/postgresql.conf`, 'utf8'));
  const auto = readFileSync(`${node.localDir}/postgresql.auto.conf`, 'utf8');
  // postgresql.auto.conf is read last: the sandbox's values come after production's and win.
  assert.ok(auto.startsWith("primary_conninfo = 'host=10.0.0.1"));
  const tail = auto.slice(auto.indexOf('# polar-runbook drill'));
  assert.match(tail, new RegExp(`port = ${node.port}\n`));
  assert.match(tail, new RegExp(`polar_disk_name = '${node.storage!.diskName}'`));
  assert.match(tail, new RegExp(`polar_datadir = '/${node.storage!.diskName}/shared_data/'`));
  assert.match(tail, new RegExp(`primary_conninfo = 'host=127.0.0.1 port=4 user=postgres dbname=postgres application_name=standby1'`));
  assert.match(tail, /primary_slot_name = 'standby1'/);
  const pg = (await execa('id', ['-u', 'postgres'])).stdout.trim();
  assert.equal(String(statSync(`${node.localDir}/postgresql.conf`).uid), pg, "owned by the standby's OS user");
  // Production's dir is as it was; a second run changes nothing.
  assert.equal(readFileSync(`${prodDir}/postmaster.pid`, 'utf8'), '12345\n');
  const again = new Journal();
  await copyStandbyDirs(spec, sb, hostFor, again);
  assert.equal(again.commands.length, 0);
});
