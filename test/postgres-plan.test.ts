// The postgres profile's plan for the lab's example spec: byte for byte against its golden file,
// and the commands that matter checked on their own (so a wrong golden file cannot pass).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPlan } from '../lib/plan.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { readSpecFile } from '../lib/spec-file.js';
import { assertGolden } from './helpers/golden.js';

const LAB = '/var/lib/polar-runbook/labs/prlexample';
const plan = renderPlan(readSpecFile('examples/lab-cluster.yaml'), postgresProfile);

test('the lab example plan equals the golden file', () =>
  assertGolden('test/golden/lab-cluster.plan.txt', plan, 'test/postgres-plan.test.ts'));

test('the plan attaches, mounts, rebuilds from the shared data and clones replicas through their slots, in that order', () => {
  const expected = [
    `root$ losetup --direct-io=on /dev/loopN ${LAB}/images/shared.img`,
    `root$ ln -s /dev/loopN /dev/prlexample-shared`,
    `root$ mount /dev/prlexample-shared ${LAB}/mnt/shared`,
    `postgres$ mkdir -m 0700 ${LAB}/hosts/pb1/primary`,
    `data_directory = '${LAB}/mnt/shared/pgdata'`,
    `postgres$ /usr/lib/postgresql/15/bin/pg_ctl -w -t 600 -D ${LAB}/hosts/pb1/primary -l ${LAB}/hosts/pb1/primary/postgresql.log start`,
    `root$ losetup --direct-io=on /dev/loopN ${LAB}/images/standby.img`,
    `root$ mount /dev/prlexample-standby ${LAB}/mnt/standby`,
    `postgres$ /usr/lib/postgresql/15/bin/pg_basebackup -h 127.0.0.1 -p 54321 -U postgres -D ${LAB}/hosts/pb2/replica1/data -S replica1 -X stream -c fast -w`,
    `primary_slot_name = 'replica1'`,
    `postgres$ touch ${LAB}/hosts/pb2/replica1/data/standby.signal`,
  ];
  let at = 0;
  for (const line of expected) {
    const i = plan.indexOf(line, at);
    assert.ok(i >= 0, `missing, or out of order: ${line}`);
    at = i;
  }
});

test('nothing in the plan creates or removes data on the shared or standby disks', () => {
  assert.doesNotMatch(plan, /mkfs|initdb|pg_resetwal/);
  for (const line of plan.split('\n').filter((l) => /\brm -rf\b/.test(l)))
    assert.match(line, new RegExp(`rm -rf -- ${LAB}/hosts/pb2/replica1/data$`), `an rm outside the replica's own local dir: ${line}`);
});

test('the plan names the checks before anything is touched, and a fencing agent where one is configured', () => {
  const spec = readSpecFile('examples/lab-cluster.yaml');
  assert.match(plan, /## 1\. no other runbook acts on the cluster\n {2}- failover\/prlexample is not running/);
  assert.match(
    plan,
    new RegExp(`## 3\\. preflight: read-only checks[^\\n]*\\non pb1, storage:\\n {2}- ${LAB}/images/shared\\.img is a regular file`),
  );
  assert.match(plan, new RegExp(`on pb2: ${LAB}/hosts/pb2/replica1 is absent, empty or built by polar-runbook \\(ForeignDataDir\\)`));
  const fenced = renderPlan(
    { ...spec, fencing: { ...spec.fencing, agent: { command: ['/usr/local/bin/fence-node', '{node}', '{address}'], timeoutSeconds: 60 } } },
    postgresProfile,
  );
  assert.ok(fenced.includes('  - else the fencing agent confirms it is off (exit 0): /usr/local/bin/fence-node pb1 127.0.0.1'), fenced);
  assert.ok(!fenced.includes('else nothing answers on'), 'with an agent, the agent is the proof');
});
