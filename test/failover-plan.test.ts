// The failover plan of the seed cluster: byte for byte against its golden file (UPDATE_GOLDEN=1
// rewrites it), and, independently of that file, the PolarDB commands of POLARDB-NOTES.md's
// "Failover to the standby, done by hand" in their order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderFailoverPlan } from '../lib/plan.js';
import { polardbProfile } from '../lib/profiles/polardb.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { readSpecFile } from '../lib/spec-file.js';
import { specAfterFailover } from '../lib/model/failover.js';
import { parseSpec, SpecError, type ClusterSpecInput } from '../lib/model/spec.js';
import { labSpecInput } from '../lab/spec.js';
import { labPaths } from '../lab/layout.js';
import { assertGolden } from './helpers/golden.js';

const SPEC = 'examples/seed-cluster.yaml';
const plan = renderFailoverPlan(readSpecFile(SPEC), polardbProfile);
const lines = plan.split('\n');

test('the seed failover plan equals the golden file', () =>
  assertGolden('test/golden/seed-cluster.failover-plan.txt', plan, 'test/failover-plan.test.ts'));

function assertInOrder(needles: (string | RegExp)[]): void {
  let at = 0;
  for (const n of needles) {
    const i = lines.findIndex((l, k) => k >= at && (typeof n === 'string' ? l.includes(n) : n.test(l)));
    assert.ok(i >= 0, `not found after line ${at + 1}: ${n}`);
    at = i + 1;
  }
}

const BIN = '/home/postgres/tmp_polardb_pg_15_base/bin';

test('fence first, then promote pb3, then nvme2n1 attached on the new read-only hosts and each rebuilt from /nvme2n1/shared_data/', () => {
  // In the workflow's order: every host attaches, then every pfsd starts, then the binaries, then one child per node.
  assertInOrder([
    "root$ pgrep -f '(^|/)pfsdaemo[n]( .*)? -p nvme1n1( |$)'",
    'root$ losetup -j /data/VirtualDisk.img',
    'select pg_is_in_recovery() as in_recovery, pg_last_wal_receive_lsn()',
    `postgres$ ${BIN}/pg_ctl promote -W -D /home/postgres/standby`,
    'select pg_walfile_name(pg_current_wal_lsn())',
    "select pg_create_physical_replication_slot('replica1', true)",
    'pb1 (replica, 172.17.0.2:5432, via docker pb1): attach /data/VirtualDisk_standby.img as /dev/nvme2n1',
    'root$ losetup --direct-io=on /dev/loopN /data/VirtualDisk_standby.img',
    'root$ ln -s /dev/loopN /dev/nvme2n1',
    'pb2 (replica, 172.17.0.3:5432, via docker pb2): attach /data/VirtualDisk_standby.img as /dev/nvme2n1',
    'root$ /usr/local/polarstore/pfsd/bin/start_pfsd.sh -p nvme2n1 -w 1',
    'root$ /usr/local/polarstore/pfsd/bin/start_pfsd.sh -p nvme2n1 -w 1',
    'pb1 (replica, 172.17.0.2:5432, via docker pb1): binaries',
    'pb2 (replica, 172.17.0.3:5432, via docker pb2): binaries',
    `root$ ${BIN}/polar-initdb.sh /home/postgres/replica-nvme2n1/ /nvme2n1/shared_data/ replica`,
    'polar_hostid=1',
    "polar_disk_name='nvme2n1'",
    "polar_datadir='/nvme2n1/shared_data/'",
    "primary_slot_name='replica1'",
    "primary_conninfo='host=172.17.0.4 port=5432 user=postgres dbname=postgres application_name=replica1'",
    'postgres$ touch /home/postgres/replica-nvme2n1/replica.signal',
    `postgres$ ${BIN}/pg_ctl start -D /home/postgres/replica-nvme2n1`,
    'pb2 (replica, 172.17.0.3:5432, via docker pb2): build',
    `root$ ${BIN}/polar-initdb.sh /home/postgres/replica-nvme2n1/ /nvme2n1/shared_data/ replica`,
    'polar_hostid=2',
    '## 7. verify',
  ]);
});

test('nothing in the plan initialises, formats or starts anything on the lost disk nvme1n1', () => {
  assert.doesNotMatch(plan, /mkfs|pg_resetwal| primary$/m);
  for (const l of lines.filter((x) => x.includes('nvme1n1') || x.includes('/data/VirtualDisk.img')))
    assert.match(
      l,
      /pgrep -f|losetup -j|shared disk nvme1n1|disk nvme1n1 is out of use|lost disk nvme1n1/,
      `the old disk is only looked at: ${l}`,
    );
});

test('the topology after the failover is a valid spec: pb3 the primary on nvme2n1', () => {
  const after = specAfterFailover(readSpecFile(SPEC));
  assert.deepEqual(
    after.nodes.map((n) => [n.name, n.role, n.hostId]),
    [
      ['pb3', 'primary', 3],
      ['pb1', 'replica', 1],
      ['pb2', 'replica', 2],
    ],
  );
  assert.deepEqual(after.storage, {
    image: '/data/VirtualDisk_standby.img',
    diskName: 'nvme2n1',
    directIo: true,
    dataDir: '/nvme2n1/shared_data',
  });
  assert.deepEqual(after.slots.expected, ['replica1', 'replica2']);
  assert.equal(after.failover, undefined);
});

test('a read-only node with the promoted standby hostid, or without a slot, is refused', () => {
  const doc = readSpecFile(SPEC) as unknown as ClusterSpecInput;
  const bad = structuredClone(doc);
  bad.failover!.replicasAfter![0]!.hostId = 3;
  assert.throws(
    () => parseSpec(bad),
    (e: SpecError) => /polar_hostid 3 is the promoted standby's/.test(e.message),
  );
  const noSlot = structuredClone(doc);
  delete noSlot.failover!.replicasAfter![1]!.slot;
  assert.throws(
    () => parseSpec(noSlot),
    (e: SpecError) => /needs the slot it streams through/.test(e.message),
  );
});

test('the lab spec plans a postgres failover: promote the standby, clone the new read-only node from it', () => {
  const spec = parseSpec(labSpecInput('prlexample', labPaths('prlexample'), [54321, 54322, 54323], 1));
  const p = renderFailoverPlan(spec, postgresProfile);
  const LAB = '/var/lib/polar-runbook/labs/prlexample';
  assert.ok(p.includes(`postgres$ /usr/lib/postgresql/15/bin/pg_ctl promote -W -D ${LAB}/hosts/pb3/standby`));
  assert.ok(p.includes(`(skipped when: a promote is already requested (${LAB}/mnt/standby/pgdata/promote exists))`));
  assert.ok(
    p.includes(
      `pg_basebackup -h 127.0.0.1 -p 54323 -U postgres -D ${LAB}/hosts/pb2/replica1-after-failover/data -S replica1 -X stream -c fast -w`,
    ),
  );
  assert.ok(p.includes(`root$ mountpoint -q ${LAB}/mnt/shared`));
});
