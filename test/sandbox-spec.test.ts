// sandboxSpec: the drill's sandbox is the production cluster under names, paths and ports of its
// own. Nothing in it may lead to a production path, device or port (besides what is only read).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApplicationFailure } from '@temporalio/common';
import { runStep, snapshotStorage } from '../lib/steps/index.js';
import type { Host } from '../lib/hosts/types.js';
import { readSpecFile } from '../lib/spec-file.js';
import { DRILL_MARKER, isDrillWorkflowIdOf, isScheduledDrillId } from '../lib/model/drill.js';
import { specAfterFailover } from '../lib/model/failover.js';
import { within } from '../lib/model/paths.js';
import { productionPaths, sandboxDirName, sandboxSpec, SandboxError, type SandboxParams } from '../lib/model/sandbox.js';
import { parseSpec, SpecError, type ClusterSpec } from '../lib/model/spec.js';
import { labPaths } from '../lab/layout.js';
import { labSpecInput } from '../lab/spec.js';

const at = new Date('2026-11-24T03:00:07.123Z');
const params = (spec: ClusterSpec, over: Partial<SandboxParams> = {}): SandboxParams => ({
  root: '/var/lib/polar-runbook/drills',
  name: sandboxDirName(spec.cluster, at),
  ports: spec.nodes.map((_, i) => 40001 + i),
  seed: 'a1b2c3',
  ...over,
});

/** Production strings a sandbox may keep: things it only reads (binaries, templates, scripts, the password file). */
const READ_ONLY = new Set([
  'binaries.dir',
  'binaries.shareDir',
  'binaries.source',
  'storageDaemon.startScript',
  'storageDaemon.pfs',
  'connection.passwordFile',
]);

function leaves(v: unknown, path: string[] = []): { key: string; value: string | number }[] {
  if (typeof v === 'string' || typeof v === 'number') return [{ key: path.filter((p) => !/^\d+$/.test(p)).join('.'), value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, [...path, String(i)]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [];
}

function assertIsolated(prod: ClusterSpec, name: string) {
  const sb = sandboxSpec(prod, params(prod));
  const out = sb.spec;
  // A valid spec (the cluster name passes the schema), a cluster of its own.
  assert.deepEqual(parseSpec(JSON.parse(JSON.stringify(out))), out, `${name}: the sandbox spec is valid`);
  assert.notEqual(out.cluster, prod.cluster);
  assert.match(out.cluster, /^[a-z0-9][a-z0-9_-]{0,62}$/);

  const prodPaths = productionPaths(prod);
  const prodPorts = new Set(prod.nodes.map((n) => n.port));
  const prodDisks = new Set([prod.storage.diskName, ...prod.nodes.flatMap((n) => (n.storage ? [n.storage.diskName] : []))]);
  for (const { key, value } of leaves(out)) {
    if (typeof value === 'number') {
      if (key === 'nodes.port') assert.ok(!prodPorts.has(value), `${name}: ${key} ${value} is a production port`);
      continue;
    }
    if (READ_ONLY.has(key) && !(key === 'binaries.dir' && prod.binaries.install !== 'installed')) continue;
    for (const p of prodPaths)
      assert.ok(!(value.startsWith('/') && (within(p, value) || within(value, p))), `${name}: ${key} = ${value} overlaps production ${p}`);
    if (key.endsWith('diskName')) assert.ok(!prodDisks.has(value), `${name}: ${key} ${value} is a production disk name`);
  }
  // Every path it writes is below the sandbox dir.
  const written = [
    out.storage.image ?? out.storage.device!,
    ...(out.profile === 'postgres' ? [out.storage.mountPoint!, out.storage.dataDir!] : []),
    ...out.nodes.flatMap((n) => [
      n.localDir,
      ...(n.storage ? [n.storage.image!, ...(n.storage.mountPoint ? [n.storage.mountPoint] : [])] : []),
    ]),
    ...(out.binaries.install !== 'installed' ? [out.binaries.dir] : []),
    ...sb.dirs.map((d) => d.path),
    ...sb.copies.map((c) => c.target),
  ];
  for (const p of written) assert.ok(within(sb.dir, p) && p !== sb.dir, `${name}: ${p} is below ${sb.dir}`);
  assert.equal(sb.marker, `${sb.dir}/${DRILL_MARKER}`);
  assert.equal(out.verify.fingerprintFile, undefined, 'no fingerprint: production keeps writing');
  assert.equal(out.fencing.onUnprovable, 'fail', 'nobody approves a drill');
  // Standbys' disks are copied before the shared one.
  assert.equal(sb.copies.at(-1)!.which, 'shared');
  return sb;
}

test('the lab spec: nothing of the sandbox is a production path, device or port', () => {
  const p = labPaths('prlsbx01');
  const prod = parseSpec(labSpecInput('prlsbx01', p, [5432, 5433, 5434], 1));
  const sb = assertIsolated(prod, 'lab');
  assert.equal(sb.dir, '/var/lib/polar-runbook/drills/prlsbx01-20261124T030007');
  assert.equal(sb.spec.cluster, 'prlsbx01-drill-a1b2c3');
  assert.equal(sb.spec.storage.diskName, 'prlsbx01-shared_da1b2c3');
  assert.equal(sb.spec.storage.image, `${sb.dir}/images/prlsbx01-shared_da1b2c3.img`);
  assert.equal(sb.spec.storage.dataDir, `${sb.dir}/mnt/prlsbx01-shared_da1b2c3/pgdata`);
  assert.deepEqual(
    sb.spec.nodes.map((n) => [n.name, n.role, n.address, n.port, n.localDir, n.slot]),
    [
      ['pb1', 'primary', '127.0.0.1', 40001, `${sb.dir}/hosts/pb1/pg`, undefined],
      ['pb2', 'replica', '127.0.0.1', 40002, `${sb.dir}/hosts/pb2/pg`, 'replica1'],
      ['pb3', 'standby', '127.0.0.1', 40003, `${sb.dir}/hosts/pb3/pg`, 'standby1'],
    ],
  );
  assert.equal(sb.spec.nodes[2]!.storage!.dataDir, `${sb.dir}/mnt/prlsbx01-standby_da1b2c3/pgdata`);
  assert.deepEqual(sb.spec.verify.tables, prod.verify.tables);
  assert.deepEqual(
    sb.copies.map((c) => [c.node, c.which, c.source.image, c.target]),
    [
      ['pb3', 'own', p.image.standby, `${sb.dir}/images/prlsbx01-standby_da1b2c3.img`],
      ['pb1', 'shared', p.image.shared, `${sb.dir}/images/prlsbx01-shared_da1b2c3.img`],
    ],
  );
});

test('the example specs: nothing of the sandbox is a production path, device or port', () => {
  const lab = assertIsolated(readSpecFile('examples/lab-cluster.yaml'), 'examples/lab-cluster.yaml');
  assert.equal(
    lab.spec.connection.passwordFile,
    '/var/lib/polar-runbook/labs/prlexample/secrets/password',
    'the password file is only read',
  );
  const seed = assertIsolated(readSpecFile('examples/seed-cluster.yaml'), 'examples/seed-cluster.yaml');
  // PFS paths follow the copy's disk name; the binaries are copied into the sandbox, from the same source.
  assert.equal(seed.spec.storage.dataDir, '/nvme1n1_da1b2c3/shared_data');
  assert.equal(seed.spec.binaries.dir, `${seed.dir}/binaries/tmp_polardb_pg_15_base`);
  assert.equal(seed.spec.binaries.source, '/data/polardb/tmp_polardb_pg_15_base');
  // Remote hosts keep their address (the sandbox runs on the same hosts), on new ports.
  assert.deepEqual(
    seed.spec.nodes.map((n) => [n.address, n.host]),
    [
      ['172.17.0.2', { transport: 'docker', container: 'pb1' }],
      ['172.17.0.3', { transport: 'docker', container: 'pb2' }],
      ['172.17.0.4', { transport: 'docker', container: 'pb3' }],
    ],
  );
});

test('deterministic: the same inputs give the same sandbox, another seed other names', () => {
  const prod = readSpecFile('examples/lab-cluster.yaml');
  assert.deepEqual(sandboxSpec(prod, params(prod)), sandboxSpec(prod, params(prod)));
  const other = sandboxSpec(prod, params(prod, { seed: 'ffffff' }));
  assert.equal(other.spec.cluster, 'prlexample-drill-ffffff');
  assert.notEqual(other.spec.storage.diskName, sandboxSpec(prod, params(prod)).spec.storage.diskName);
  // A copy that is a block device (a snapshot command linked one) is named as a device.
  const dev = sandboxSpec(prod, params(prod, { deviceCopies: ['prlexample-shared_da1b2c3'] }));
  assert.equal(dev.spec.storage.device, `${dev.dir}/images/prlexample-shared_da1b2c3.img`);
  assert.equal(dev.spec.storage.image, undefined);
});

test('a long cluster name is cut to a valid one', () => {
  const prod = readSpecFile('examples/lab-cluster.yaml');
  const long = parseSpec({ ...JSON.parse(JSON.stringify(prod)), cluster: 'c'.repeat(63) });
  const sb = sandboxSpec(long, params(long, { root: '/d', name: 'x' }));
  assert.equal(sb.spec.cluster.length, 63);
  assert.match(sb.spec.cluster, /-drill-a1b2c3$/);
});

test('refuses a sandbox that overlaps production, reuses its ports or has too long a socket path', () => {
  const prod = readSpecFile('examples/lab-cluster.yaml');
  assert.throws(() => sandboxSpec(prod, params(prod, { root: '/var/lib/polar-runbook/labs', name: 'prlexample' })), SandboxError);
  assert.throws(
    () => sandboxSpec(prod, params(prod, { root: '/var/lib/polar-runbook/labs/prlexample/mnt/shared' })),
    /overlaps the production path/,
  );
  assert.throws(() => sandboxSpec(prod, params(prod, { root: '/var', name: 'lib' })), /overlaps/);
  assert.throws(() => sandboxSpec(prod, params(prod, { ports: [54321, 40002, 40003] })), /production cluster's/);
  assert.throws(() => sandboxSpec(prod, params(prod, { ports: [40001, 40001, 40003] })), /must all differ/);
  assert.throws(() => sandboxSpec(prod, params(prod, { ports: [40001] })), /one per node/);
  assert.throws(() => sandboxSpec(prod, params(prod, { seed: 'xyz' })), /six hex digits/);
  assert.throws(() => sandboxSpec(prod, params(prod, { root: `/${'r'.repeat(80)}` })), /socket path/);
  assert.throws(() => sandboxSpec(prod, params(prod, { root: '/' })), /other than \//);
});

test('the drill section of the spec is validated like the rest', () => {
  const base = JSON.parse(JSON.stringify(readSpecFile('examples/seed-cluster.yaml')));
  const ok = parseSpec({ ...base, drill: { snapshotCommand: ['/usr/local/bin/san-snap', '--lun={image}', '--to', '{target}'] } });
  assert.equal(ok.drill?.maxFreezeSeconds, 300);
  const bad = (drill: unknown) => {
    try {
      parseSpec({ ...base, drill });
    } catch (err) {
      assert.ok(err instanceof SpecError);
      return err.problems.join('\n');
    }
    assert.fail('accepted');
  };
  assert.match(bad({ snapshotCommand: ['san-snap', '{target}'] }), /drill\.snapshotCommand\.0: the command must be an absolute path/);
  assert.match(bad({ snapshotCommand: ['/bin/snap', '{image}'] }), /drill\.snapshotCommand: the command must name where the copy goes/);
  assert.match(bad({ snapshotCommand: ['/bin/snap', '{target}', '{home}'] }), /only placeholders are/);
  assert.match(bad({ snapshotCommand: ['/bin/sh', '-c', 'rm -rf /;', '{target}'] }), /must be plain characters/);
  assert.match(bad({ sandboxRoot: 'relative/dir' }), /drill\.sandboxRoot/);
  assert.match(bad({ sandboxRoot: '/' }), /must not be \//);
  assert.match(bad({ nope: 1 }), /drill/);
});

test('drill workflow ids: drill/<cluster>, or that with the time a schedule appends', () => {
  assert.ok(isDrillWorkflowIdOf('prl1', 'drill/prl1'));
  assert.ok(isDrillWorkflowIdOf('prl1', 'drill/prl1-2026-11-24T03:00:00Z'));
  assert.ok(isScheduledDrillId('prl1', 'drill/prl1-2026-11-24T03:00:00Z'));
  assert.ok(!isScheduledDrillId('prl1', 'drill/prl1'));
  assert.ok(!isDrillWorkflowIdOf('prl1', 'drill/prl1-x'));
  assert.ok(!isDrillWorkflowIdOf('prl1', 'drill/prl12'));
  assert.ok(!isDrillWorkflowIdOf('prl1', 'recover/prl1'));
});

test('snapshotStorage refuses polardb without a snapshot command, and a block device, before running anything', async () => {
  const calls: string[][] = [];
  const host: Host = {
    name: 'fake',
    dbUser: 'postgres',
    run: async (cmd) => {
      calls.push(cmd.argv);
      return { exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false };
    },
  };
  const run = { workflowId: 'drill/x', runId: 'r' };
  const snapshot = (spec: ClusterSpec) =>
    runStep(
      () => host,
      (s) => snapshotStorage(s, spec, sandboxSpec(spec, params(spec)), run),
    );
  const seed = readSpecFile('examples/seed-cluster.yaml');
  await assert.rejects(snapshot(seed), (err: ApplicationFailure) => {
    assert.equal(err.type, 'SnapshotUnsupported');
    assert.match(err.message, /polardb .* needs drill\.copyMethod pfsd-freeze or drill\.snapshotCommand/);
    return true;
  });
  const doc = JSON.parse(JSON.stringify(readSpecFile('examples/lab-cluster.yaml')));
  doc.storage = { ...doc.storage, image: undefined, device: '/dev/sdx' };
  const san = parseSpec(doc);
  await assert.rejects(snapshot(san), (err: ApplicationFailure) => {
    assert.equal(err.type, 'SnapshotUnsupported');
    assert.match(err.message, /block device \/dev\/sdx: only a snapshot command can copy it/);
    return true;
  });
  assert.deepEqual(calls, [], 'nothing ran on any host');
});

test('a failover drill: the read-only nodes after the failover get sandbox ports and dirs; the after-topology is valid', () => {
  const p = labPaths('prlsbx01');
  for (const [name, prod] of [
    ['lab', parseSpec(labSpecInput('prlsbx01', p, [5432, 5433, 5434], 1))],
    ['examples/seed-cluster.yaml', readSpecFile('examples/seed-cluster.yaml')],
  ] as const) {
    const n = prod.failover!.replicasAfter.length;
    const failoverPorts = Array.from({ length: n }, (_, i) => 41001 + i);
    const sb = sandboxSpec(prod, params(prod, { failoverPorts }));
    const f = sb.spec.failover!;
    assert.deepEqual(
      f.replicasAfter.map((r) => [r.name, r.port, r.localDir]),
      prod.failover!.replicasAfter.map((r, i) => [r.name, 41001 + i, `${sb.dir}/hosts/${r.name}/pg-after-failover`]),
      name,
    );
    assert.deepEqual([f.maxLagBytes, f.maxLagSeconds], [prod.failover!.maxLagBytes, prod.failover!.maxLagSeconds]);
    // Nothing of it leads to production: no production path, no production port, no production node's slot dir.
    const prodPaths = [...productionPaths(prod), ...prod.failover!.replicasAfter.map((r) => r.localDir)];
    const prodPorts = new Set([...prod.nodes, ...prod.failover!.replicasAfter].map((x) => x.port));
    for (const { key, value } of leaves(f)) {
      if (typeof value === 'number') assert.ok(key !== 'replicasAfter.port' || !prodPorts.has(value), `${name}: ${key} ${value}`);
      else for (const q of prodPaths) assert.ok(!within(q, value), `${name}: ${key} ${value} is below the production path ${q}`);
    }
    const after = specAfterFailover(sb.spec);
    assert.equal(
      after.storage.diskName,
      sb.spec.nodes.find((x) => x.role === 'standby')!.storage!.diskName,
      `${name}: the copy of the standby's disk`,
    );
  }
  const lab = parseSpec(labSpecInput('prlsbx01', p, [5432, 5433, 5434], 1));
  assert.throws(() => sandboxSpec(lab, params(lab, { failoverPorts: [] })), /needs 1 ports for failover\.replicasAfter/);
  assert.throws(() => sandboxSpec(lab, params(lab, { failoverPorts: [5433] })), /failover ports 5433 are taken/);
  const { failover: _f, ...noFailover } = lab;
  void _f;
  assert.throws(() => sandboxSpec(noFailover as ClusterSpec, params(lab, { failoverPorts: [41001] })), SandboxError);
  const moved = { ...lab, failover: { ...lab.failover!, replicasAfter: [{ ...lab.failover!.replicasAfter[0]!, name: 'pb9' }] } };
  assert.throws(
    () => sandboxSpec(moved, params(lab, { failoverPorts: [41001] })),
    /on the host \(and OS user\) of the node of the same name: pb9/,
  );
});
