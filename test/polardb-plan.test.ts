// The seed cluster's plan: byte for byte against the checked-in golden file (UPDATE_GOLDEN=1
// rewrites it), and, independently of that file, tied line by line to PROCEDURE.md's commands.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPlan } from '../lib/plan.js';
import { polardbProfile } from '../lib/profiles/polardb.js';
import { readSpecFile } from '../lib/spec-file.js';
import { parseSpec } from '../lib/model/spec.js';
import { recoverySteps } from '../lib/model/steps.js';
import { assertGolden } from './helpers/golden.js';

const SPEC = 'examples/seed-cluster.yaml';
const GOLDEN = 'test/golden/seed-cluster.plan.txt';
const plan = renderPlan(readSpecFile(SPEC), polardbProfile);
const lines = plan.split('\n');

test('the seed plan equals the golden file', () => assertGolden(GOLDEN, plan, 'test/polardb-plan.test.ts'));

test('rendering is deterministic', () => {
  assert.equal(renderPlan(readSpecFile(SPEC), polardbProfile), plan);
});

/** Each needle is found on a line after the previous needle's line (a line may hold only one). */
function assertInOrder(needles: (string | RegExp)[], from = 0): number {
  let at = from;
  for (const n of needles) {
    const i = lines.findIndex((l, k) => k >= at && (typeof n === 'string' ? l.includes(n) : n.test(l)));
    assert.ok(i >= 0, `not found after line ${at + 1}: ${n}`);
    at = i + 1;
  }
  return at;
}

const BIN = '/home/postgres/tmp_polardb_pg_15_base/bin';

/** PROCEDURE.md step 6's postgresql.conf lines, verbatim. */
const SEED_CONF = [
  'port=5432',
  'polar_hostid=1',
  'polar_enable_shared_storage_mode=on',
  "polar_disk_name='nvme1n1'",
  "polar_datadir='/nvme1n1/shared_data/'",
  'polar_vfs.localfs_mode=off',
  "shared_preload_libraries='$libdir/polar_vfs,$libdir/polar_worker'",
  "polar_storage_cluster_name='disk'",
  'logging_collector=on',
  "log_line_prefix='%p\\t%r\\t%u\\t%m\\t'",
  "log_directory='pg_log'",
  "listen_addresses='0.0.0.0'",
  'max_connections=200',
  'polar_logindex_mem_size=64MB',
  'polar_xlog_queue_buffers=64MB',
  'polar_xlog_page_buffers=64MB',
  'full_page_writes = off',
  'polar_has_partial_write = off',
  'polar_resource_manager.enable_resource_manager=off',
];
const SEED_HBA = ['host all all 0.0.0.0/0 md5', 'host replication postgres 172.17.0.0/16 trust'];

/** The block lines as written: between our markers, the exact lines (comments aside). */
const exactly = (l: string) => new RegExp(`^${l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

test('the plan follows PROCEDURE.md, in its order', () => {
  let at = assertInOrder([
    // steps 2-4 on pb1: attach, name, pfsd, check
    /root\$ losetup -f$/,
    /root\$ losetup --direct-io=on \/dev\/loop\S+ \/data\/VirtualDisk\.img$/,
    /root\$ ln -s \/dev\/loop\S+ \/dev\/nvme1n1$/,
    // pb2: the same device, only the link (no losetup -f / bind of its own)
    /^pb2 .*attach \/data\/VirtualDisk\.img as \/dev\/nvme1n1/,
    /root\$ ln -s \/dev\/loop\S+ \/dev\/nvme1n1$/,
    // pfsd on every compute host, and the seed's check
    'root$ /usr/local/polarstore/pfsd/bin/start_pfsd.sh -p nvme1n1 -w 1',
    'root$ pfs -C disk ls /nvme1n1/',
    'root$ /usr/local/polarstore/pfsd/bin/start_pfsd.sh -p nvme1n1 -w 1',
    'root$ pfs -C disk ls /nvme1n1/',
    // step 5: binaries from shared storage
    'cp -r /data/polardb/tmp_polardb_pg_15_base',
    `postgres$ ${BIN}/psql --version`,
    // step 6: the RW node
    'postgres$ mkdir -m 0700 /home/postgres/primary',
    `root$ ${BIN}/polar-initdb.sh /home/postgres/primary/ /nvme1n1/shared_data/ replica`,
    'root$ chmod -R 700 /home/postgres/primary',
    'root$ chown -R postgres:postgres /home/postgres/primary',
    // the config templates: from the host's cache, a throwaway initdb only when it lacks this version
    /postgres\$ sh -c .*"\$0" -D "\$tmp\/initdb".*cp "\$dir"\/\*\.conf "\$2"\/.*' \S+\/bin\/initdb \/var\/cache\/polar-runbook\/templates\/postgres \/home\/postgres\/primary$/,
    'append to /home/postgres/primary/postgresql.conf',
    ...SEED_CONF.map(exactly),
    'append to /home/postgres/primary/pg_hba.conf',
    ...SEED_HBA.map(exactly),
    `postgres$ ${BIN}/pg_ctl start -D /home/postgres/primary`,
    // step 7: the slots survived
    'pg_replication_slots',
  ]);
  // step 8: the standby on its own disk
  const standby = assertInOrder(
    [
      /root\$ losetup --direct-io=on \/dev\/loop\S+ \/data\/VirtualDisk_standby\.img$/,
      /root\$ ln -s \/dev\/loop\S+ \/dev\/nvme2n1$/,
      'root$ /usr/local/polarstore/pfsd/bin/start_pfsd.sh -p nvme2n1 -w 1',
      `postgres$ ${BIN}/pg_ctl start -D /home/postgres/standby`,
      "s.slot_name = 'standby1'",
    ],
    at,
  );
  // step 9: the RO node
  at = assertInOrder(
    [
      'postgres$ mkdir -m 0700 /home/postgres/replica1',
      `root$ ${BIN}/polar-initdb.sh /home/postgres/replica1/ /nvme1n1/shared_data/ replica`,
      'root$ chmod -R 700 /home/postgres/replica1',
      'root$ chown -R postgres:postgres /home/postgres/replica1',
      /postgres\$ sh -c .*' \S+\/bin\/initdb \/var\/cache\/polar-runbook\/templates\/postgres \/home\/postgres\/replica1$/,
      'append to /home/postgres/replica1/postgresql.conf',
      ...SEED_CONF.map((l) => exactly(l === 'polar_hostid=1' ? 'polar_hostid=2' : l)),
      exactly("primary_slot_name='replica1'"),
      exactly("primary_conninfo='host=172.17.0.2 port=5432 user=postgres dbname=postgres application_name=replica1'"),
      'append to /home/postgres/replica1/pg_hba.conf',
      ...SEED_HBA.map(exactly),
      'postgres$ touch /home/postgres/replica1/replica.signal',
      `postgres$ ${BIN}/pg_ctl start -D /home/postgres/replica1`,
      "s.slot_name = 'replica1'",
      // step 10 and the checks of step 7
      'the tables t, t1, t2, tbl are there',
    ],
    standby,
  );
  assert.ok(at > standby);
});

test('pb2 only links the device pb1 bound: it binds none of its own', () => {
  const pb2 = lines.findIndex((l) => /^pb2 .*attach /.test(l));
  const end = lines.findIndex((l, k) => k > pb2 && l.startsWith('## '));
  const part = lines.slice(pb2, end);
  assert.ok(part.some((l) => l.includes('ln -s /dev/loopN /dev/nvme1n1')));
  assert.ok(!part.some((l) => /losetup -f$|losetup --direct-io/.test(l)), part.join('\n'));
});

test("polar-initdb.sh's primary mode never appears; the standby's dir is kept, not rebuilt", () => {
  assert.ok(!lines.some((l) => /polar-initdb\.sh .* primary\b/.test(l)), 'primary mode would re-initialise the shared storage');
  assert.equal(lines.filter((l) => l.includes('polar-initdb.sh')).length, 2, 'polar-initdb.sh for pb1 and pb2 only');
  assert.ok(
    !lines.some((l) => /mkdir .*\/home\/postgres\/standby|chown .*\/home\/postgres\/standby|append to \/home\/postgres\/standby/.test(l)),
  );
  assert.equal(lines.filter((l) => l.includes('replica.signal')).length, 2, 'touch and its skip condition, for pb2 only');
  assert.equal(lines.filter((l) => exactly('polar_hostid=1').test(l)).length, 1);
});

test('a spec asking polar-initdb.sh for primary mode is refused, not planned', () => {
  // the parsed spec is itself a valid input document
  const doc = JSON.parse(JSON.stringify(readSpecFile(SPEC)));
  doc.binaries.initScript = { name: 'polar-initdb.sh', args: ['{localDir}/', '{dataDir}/', 'primary'] };
  assert.throws(
    () => renderPlan(parseSpec(doc), polardbProfile),
    (e: Error) => /primary mode/.test(e.message),
  );
});

test('the config templates are a step of their own that no build waits for; recoveries started before fill them with the binaries', () => {
  const spec = readSpecFile(SPEC);
  const steps = recoverySteps(spec).steps;
  const byId = new Map(steps.map((s) => [s.id, s]));
  // The rebuilt nodes copy templates; the standby keeps its local dir.
  assert.deepEqual(
    steps.filter((s) => s.name === 'prepareTemplates').map((s) => [s.id, s.needs]),
    [
      ['prepareTemplates:pb1', ['prepareBinaries:pb1']],
      ['prepareTemplates:pb2', ['prepareBinaries:pb2']],
    ],
  );
  /** Everything a step waits for, transitively. */
  const before = (id: string): Set<string> => new Set(byId.get(id)!.needs.flatMap((n) => [n, ...before(n)]));
  for (const id of ['buildNode:pb1', 'buildNode:pb2', 'startNode:pb1', 'startNode:pb2', 'validateSlots'])
    assert.ok(![...before(id)].some((n) => n.startsWith('prepareTemplates:')), `${id} does not wait for the templates`);
  assert.ok(before('verifyData').has('prepareTemplates:pb1'), 'the verification waits for every step');
  assert.ok(!recoverySteps(spec, { templatesApart: false }).steps.some((s) => s.name === 'prepareTemplates'));
  // The plan lists them where it always did: with each node's binaries.
  const binaries = plan.slice(plan.indexOf('binaries (on each host in parallel)'), plan.indexOf('## 8.'));
  assert.equal(binaries.match(/config templates for these binaries, from a throwaway initdb/g)?.length, 2);
});

test("the primary's storage first: its daemon starts before anything else once the shared disk is bound; only the primary's binaries run beside its attach", () => {
  const spec = readSpecFile(SPEC);
  /** The steps that start together once `id` is done, in the order the workflow starts them (declared). */
  const startingAfter = (steps: ReturnType<typeof recoverySteps>['steps'], id: string) =>
    steps.filter((s) => s.needs.length === 1 && s.needs[0] === id).map((s) => s.id);
  const today = recoverySteps(spec).steps;
  // The primary's template fill (a throwaway initdb) heads the critical path on new hosts: its binaries start at once.
  assert.deepEqual(startingAfter(today, 'preflight'), ['attachStorage:pb1', 'prepareBinaries:pb1']);
  assert.deepEqual(startingAfter(today, 'prepareBinaries:pb1'), ['prepareTemplates:pb1']);
  assert.deepEqual(startingAfter(today, 'attachStorage:pb1'), [
    'startStorageDaemon:pb1',
    'attachStorage:pb2',
    'prepareBinaries:pb2',
    'prepareBinaries:pb3',
    'attachStorage:pb3',
  ]);
  // Recoveries started before the primary's binaries came early: every node's binaries after the bind.
  const bindFirst = recoverySteps(spec, { primaryBinariesEarly: false }).steps;
  assert.deepEqual(startingAfter(bindFirst, 'preflight'), ['attachStorage:pb1']);
  assert.deepEqual(startingAfter(bindFirst, 'attachStorage:pb1'), [
    'startStorageDaemon:pb1',
    'attachStorage:pb2',
    'prepareBinaries:pb1',
    'prepareBinaries:pb2',
    'prepareBinaries:pb3',
    'attachStorage:pb3',
  ]);
  // Recoveries started before: the binaries beside the attach, the other attaches first.
  const before = recoverySteps(spec, { primaryStorageFirst: false }).steps;
  assert.deepEqual(startingAfter(before, 'preflight'), [
    'attachStorage:pb1',
    'prepareBinaries:pb1',
    'prepareBinaries:pb2',
    'prepareBinaries:pb3',
  ]);
  assert.deepEqual(startingAfter(before, 'attachStorage:pb1'), ['attachStorage:pb2', 'startStorageDaemon:pb1', 'attachStorage:pb3']);
});
