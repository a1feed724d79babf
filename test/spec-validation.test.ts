// parseSpec refuses what could split the brain or reach a shell, and names the field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { profileOf } from '../lib/profiles/index.js';
import { parseSpec, SpecError } from '../lib/model/spec.js';

const SEED = 'examples/seed-cluster.yaml';
type Doc = { storage: Record<string, unknown>; nodes: Record<string, unknown>[] };
const seed = (): Doc => YAML.parse(readFileSync(SEED, 'utf8'));

/** parseSpec must throw a SpecError with a problem on `field` (a path such as nodes.1.slot) matching `why`. */
function rejects(doc: Doc, field: string, why?: RegExp): void {
  let err: unknown;
  try {
    parseSpec(doc);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SpecError, `accepted: ${JSON.stringify(doc.nodes.map((n) => [n.name, n.slot, n.localDir]))}`);
  const hits = err.problems.filter((p) => p.startsWith(`${field}: `) && (!why || why.test(p)));
  assert.ok(hits.length > 0, `no problem on ${field}${why ? ` matching ${why}` : ''} in:\n  ${err.problems.join('\n  ')}`);
}

const SHELLISH = [';', '$(', '`', ' ', "'", '"'];

test('the seed example is accepted, with the seed values and the defaults', () => {
  const spec = parseSpec(seed());
  assert.equal(spec.profile, 'polardb');
  assert.deepEqual(
    spec.nodes.map((n) => [n.name, n.role, n.address, n.port, n.hostId, n.slot, n.localDir]),
    [
      ['pb1', 'primary', '172.17.0.2', 5432, 1, undefined, '/home/postgres/primary'],
      ['pb2', 'replica', '172.17.0.3', 5432, 2, 'replica1', '/home/postgres/replica1'],
      ['pb3', 'standby', '172.17.0.4', 5432, 3, 'standby1', '/home/postgres/standby'],
    ],
  );
  assert.deepEqual(spec.nodes[2]!.storage, { image: '/data/VirtualDisk_standby.img', diskName: 'nvme2n1', directIo: true });
  assert.deepEqual(spec.storage, { image: '/data/VirtualDisk.img', diskName: 'nvme1n1', directIo: true, dataDir: '/nvme1n1/shared_data' });
  assert.deepEqual(spec.storageDaemon, {
    workers: 1,
    startScript: '/usr/local/polarstore/pfsd/bin/start_pfsd.sh',
    pfs: 'pfs',
    storageClusterName: 'disk',
  });
  assert.deepEqual(spec.binaries.initScript, { name: 'polar-initdb.sh', args: ['{localDir}/', '{dataDir}/', 'replica'] });
  assert.deepEqual(spec.replication, { network: '172.17.0.0/16', user: 'postgres' });
  assert.deepEqual(spec.slots.expected, ['replica1', 'standby1']);
  assert.deepEqual(spec.verify.tables, ['t', 't1', 't2', 'tbl']);
});

describe('rejected, naming the field', () => {
  test('an unknown profile, in the spec and in the registry', () => {
    const doc = seed() as Doc & { profile: string };
    doc.profile = 'mysql';
    rejects(doc, 'profile', /must be one of the profiles polardb, postgres/);
    assert.throws(
      () => profileOf(doc),
      (e: SpecError) => e instanceof SpecError && /unknown profile "mysql" \(known: polardb, postgres\)/.test(e.message),
    );
  });

  test('two nodes with the same polar_hostid', () => {
    const doc = seed();
    doc.nodes[1]!.hostId = 1;
    rejects(doc, 'nodes.1', /hostId 1 is already used by node pb1/);
  });

  test('two primaries', () => {
    const doc = seed();
    doc.nodes[1]!.role = 'primary';
    delete doc.nodes[1]!.slot;
    rejects(doc, 'nodes', /exactly one node must have role primary \(found 2\)/);
  });

  for (const bad of SHELLISH) {
    test(`a slot name with ${JSON.stringify(bad)}`, () => {
      const doc = seed();
      doc.nodes[1]!.slot = `replica${bad}1`;
      rejects(doc, 'nodes.1.slot', /slot name/);
    });
    test(`a local dir with ${JSON.stringify(bad)}`, () => {
      const doc = seed();
      doc.nodes[0]!.localDir = `/home/postgres/pri${bad}mary`;
      rejects(doc, 'nodes.0.localDir', /absolute path/);
    });
    test(`a shared data dir with ${JSON.stringify(bad)}`, () => {
      const doc = seed();
      doc.storage.dataDir = `/nvme1n1/shared${bad}data`;
      rejects(doc, 'storage.dataDir', /absolute path/);
    });
  }

  test('a local dir with a .. segment', () => {
    const doc = seed();
    doc.nodes[0]!.localDir = '/home/postgres/../../etc';
    rejects(doc, 'nodes.0.localDir', /\.\./);
  });

  for (const bad of ['../sda', 'nvme1n1/x', 'sda;rm', '/dev/sda', 'sda rm', '$(id)', '']) {
    test(`a disk name ${JSON.stringify(bad)}`, () => {
      const doc = seed();
      doc.storage.diskName = bad;
      rejects(doc, 'storage.diskName', /disk name/);
    });
    test(`a standby disk name ${JSON.stringify(bad)}`, () => {
      const doc = seed();
      (doc.nodes[2]!.storage as Record<string, unknown>).diskName = bad;
      rejects(doc, 'nodes.2.storage.diskName', /disk name/);
    });
  }

  test('a standby disk named like the shared disk', () => {
    const doc = seed();
    (doc.nodes[2]!.storage as Record<string, unknown>).diskName = 'nvme1n1';
    rejects(doc, 'nodes.2.storage.diskName', /a name of its own/);
  });

  test('a PFS data dir outside the shared disk, or the disk root itself', () => {
    for (const dataDir of ['/nvme2n1/shared_data', '/nvme1n1/', '/nvme1n1']) {
      const doc = seed();
      doc.storage.dataDir = dataDir;
      rejects(doc, 'storage.dataDir', /must name a directory below \/nvme1n1\//);
    }
  });

  test('a PFS disk name with "-" (pfsd would take nvme1n1 for nvme1n1-b)', () => {
    const doc = seed();
    (doc.nodes[2]!.storage as Record<string, unknown>).diskName = 'nvme1n1-b';
    rejects(doc, 'storage.diskName', /must not contain "-"/);
  });

  test('the init script in primary mode (it would initialise a new cluster over the shared data)', () => {
    const doc = seed() as Doc & { binaries: Record<string, unknown> };
    doc.binaries.initScript = { name: 'polar-initdb.sh', args: ['{localDir}/', '{dataDir}/', 'primary'] };
    rejects(doc, 'binaries.initScript.args', /never run in primary mode/);
  });

  test('postgres binaries on a cluster disk (they are prepared before it is mounted)', () => {
    const lab = () => YAML.parse(readFileSync('examples/lab-cluster.yaml', 'utf8')) as Doc & { binaries: Record<string, unknown> };
    assert.doesNotThrow(() => parseSpec(lab()));
    const shared = lab();
    shared.binaries = { ...shared.binaries, install: 'copy', source: `${shared.storage.mountPoint}/pg15` };
    rejects(shared, 'binaries.source', /is on the disk mounted at .*\/mnt\/shared, and the binaries are prepared before it is mounted/);
    const own = lab();
    const standbyMount = (own.nodes.find((n) => n.role === 'standby')!.storage as Record<string, string>).mountPoint!;
    own.binaries = { ...own.binaries, dir: standbyMount };
    rejects(own, 'binaries.dir', /is on the disk mounted at .*\/mnt\/standby/);
  });
});

describe('words that reach root command lines: normalised paths, no options, plain script names', () => {
  type Any = Record<string, any>;
  const withField = (set: (d: Any) => void): Doc => {
    const d = seed() as Any;
    set(d);
    return d as Doc;
  };
  test('storageDaemon.pfs with a path traversal', () =>
    rejects(
      withField((d) => (d.storageDaemon = { pfs: '../../../tmp/evil' })),
      'storageDaemon.pfs',
    ));
  test('an init script argument that climbs out of the local dir, or passes for an option', () => {
    const args = (a: string[]) => withField((d) => (d.binaries.initScript = { name: 'polar-initdb.sh', args: a }));
    rejects(args(['{localDir}/../../../etc/', '{dataDir}/', 'replica']), 'binaries.initScript.args.0', /normalised/);
    rejects(args(['{localDir}/', '--force', 'replica']), 'binaries.initScript.args.1', /option/);
  });
  test('an init script named .. or with a path', () => {
    for (const name of ['..', '.', '../bin/sh', '-x'])
      rejects(
        withField((d) => (d.binaries.initScript = { name, args: ['{localDir}/', '{dataDir}/', 'replica'] })),
        'binaries.initScript.name',
        /plain file name/,
      );
  });
  test('a snapshot command whose program path is not normalised', () =>
    rejects(
      withField((d) => (d.drill = { snapshotCommand: ['/usr/../bin/sh', '-c', 'x', '{target}'] })),
      'drill.snapshotCommand.0',
      /normalised/,
    ));
  test('a sandbox root of //', () =>
    rejects(
      withField((d) => (d.drill = { sandboxRoot: '//' })),
      'drill.sandboxRoot',
      /normalised/,
    ));
  test('paths with "." segments, "//" or a trailing "/"', () => {
    for (const bad of ['/home/postgres/./primary', '/home//postgres/primary', '/home/postgres/primary/'])
      rejects(
        withField((d) => (d.nodes[0].localDir = bad)),
        'nodes.0.localDir',
        /normalised/,
      );
  });
  test('a fencing agent that is not an absolute program, or with an unknown placeholder', () => {
    rejects(
      withField((d) => (d.fencing = { agent: { command: ['fence_ipmilan', '{node}'] } })),
      'fencing.agent.command.0',
      /absolute path/,
    );
    rejects(
      withField((d) => (d.fencing = { agent: { command: ['/usr/sbin/fence_ipmilan', '{secret}'] } })),
      'fencing.agent.command.1',
      /placeholders/,
    );
  });
  test('a fencing agent and gate timings are accepted with their defaults', () => {
    const spec = parseSpec(withField((d) => (d.fencing = { agent: { command: ['/usr/sbin/fence_ipmilan', '--plug', '{node}'] } })));
    assert.deepEqual(spec.fencing.agent, { command: ['/usr/sbin/fence_ipmilan', '--plug', '{node}'], timeoutSeconds: 60 });
    assert.deepEqual(spec.approval, { timeoutSeconds: 14400, remindEverySeconds: 900 });
  });
});
