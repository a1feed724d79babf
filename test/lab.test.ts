// The lab for real (root, loop devices, mkfs, PostgreSQL 15): create, refuse a second create with
// the same id, disaster (only the images and the standby's local dir survive), destroy.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { readSpecFile } from '../lib/spec-file.js';
import { createLab, destroyLab, disaster, labPaths, labStatus, LAB_TABLES, type Lab } from '../lab/lab.js';

const id = `labtest-${randomBytes(3).toString('hex')}`;
const p = labPaths(id);
const inLab = (path: string) => path === p.root || path.startsWith(`${p.root}/`);

/** Every process (not only PostgreSQL) whose working directory is in the lab. */
function processesInLab(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return inLab(readlinkSync(`/proc/${e}/cwd`).replace(/ \(deleted\)$/, ''));
      } catch {
        return false;
      }
    })
    .map(Number);
}
const mountsInLab = () =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter(inLab);
const loopsOf = async (image: string) => (await execa('losetup', ['-j', image])).stdout.trim();

describe('lab', { timeout: 600_000 }, () => {
  let lab: Lab | undefined;
  after(() => destroyLab(id));

  test('create: primary, a replica and a standby, all streaming through their slots', async (t) => {
    const started = Date.now();
    lab = await createLab({ id, replicas: 1, rows: 500 });
    t.diagnostic(`create: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual(readSpecFile(lab.specFile), lab.spec);
    assert.deepEqual(
      lab.spec.nodes.map((n) => [n.name, n.role, n.slot ?? '-', n.localDir.slice(p.root.length)]),
      [
        ['pb1', 'primary', '-', '/hosts/pb1/primary'],
        ['pb2', 'replica', 'replica1', '/hosts/pb2/replica1'],
        ['pb3', 'standby', 'standby1', '/hosts/pb3/standby'],
      ],
    );
    const s = await labStatus(lab);
    assert.deepEqual(
      s.replication.filter((r) => r.state === 'streaming').map((r) => r.applicationName),
      ['replica1', 'standby1'],
    );
    assert.deepEqual(
      s.slots.map((x) => x.name),
      ['replica1', 'standby1'],
    );
    assert.deepEqual(
      s.nodes.map((n) => n.answers),
      ['primary', 'in recovery', 'in recovery'],
    );
    assert.ok(s.disks.every((d) => d.mounted && d.loops.length === 1 && d.linkTarget === d.loops[0]));
    // The PolarDB split: no configuration next to the shared data.
    for (const f of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) assert.ok(!existsSync(`${p.dataDir.shared}/${f}`), f);
  });

  test('create refuses an id that exists and changes nothing', async () => {
    assert.ok(lab, 'needs the lab from the previous test');
    const before = await labStatus(lab);
    await assert.rejects(createLab({ id }), /lab .* already exists/);
    const now = await labStatus(lab);
    assert.deepEqual(now.nodes, before.nodes);
    assert.deepEqual(now.disks, before.disks);
    assert.deepEqual(now.processes, before.processes);
  });

  test('disaster: only the images, the standby local dir and the lab files remain', async (t) => {
    assert.ok(lab, 'needs the lab from the first test');
    const started = Date.now();
    const print = await disaster(lab);
    t.diagnostic(`disaster: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    assert.deepEqual(processesInLab(), []);
    assert.deepEqual(mountsInLab(), []);
    for (const d of ['shared', 'standby'] as const) {
      assert.ok(existsSync(p.image[d]), `${p.image[d]} kept`);
      assert.equal(await loopsOf(p.image[d]), '', `no loop device on ${p.image[d]}`);
      assert.throws(() => lstatSync(p.link[d]), `${p.link[d]} removed`);
    }
    const [primary, replica, standby] = lab.spec.nodes;
    assert.ok(!existsSync(primary!.localDir) && !existsSync(replica!.localDir), 'compute-local dirs gone');
    assert.ok(existsSync(`${p.hostsDir}/pb1`) && existsSync(`${p.hostsDir}/pb2`), 'host homes kept');
    assert.ok(existsSync(`${standby!.localDir}/postgresql.conf`), 'standby local dir survives');

    const recorded = JSON.parse(readFileSync(p.fingerprintFile, 'utf8'));
    assert.deepEqual(Object.keys(recorded.tables), LAB_TABLES);
    assert.deepEqual(recorded.tables, print.tables);
    assert.equal(recorded.tables.t1.rows, 1);
    assert.equal(recorded.tables.tbl.rows, 500);
    assert.ok(!Number.isNaN(Date.parse(recorded.recordedAt)));
  });

  test('destroy: the lab root is gone, and destroying again is fine', async () => {
    await destroyLab(id);
    assert.ok(!existsSync(p.root));
    await destroyLab(id);
  });
});
