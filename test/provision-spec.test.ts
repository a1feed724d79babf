// host.provision (docker nodes): what the spec accepts, the exact `docker run` it becomes, and the
// plan's provision step right after the fence. Pure: no engine (test/container-lab.test.ts runs it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import YAML from 'yaml';
import { renderPlan } from '../lib/plan.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { dockerRunArgv, provisionedNodes } from '../lib/provision.js';
import { parseSpec, SpecError } from '../lib/model/spec.js';

type Doc = { nodes: { host: Record<string, unknown> }[]; profile: string; storage: Record<string, unknown> };
const PROVISION = {
  image: 'polar-runbook-host:0123456789ab',
  network: 'seed-net',
  ip: '10.213.5.2',
  volumes: ['/srv/seed/images:/data'],
  capabilities: ['SYS_ADMIN', 'MKNOD'],
  devices: ['/dev/loop-control'],
  deviceCgroupRules: ['b 7:* rmw'],
  securityOpts: ['seccomp=unconfined'],
};

/** The seed example as a postgres-profile cluster whose pb1 carries `provision`. */
function seedWith(provision: Record<string, unknown>): Doc {
  const doc = YAML.parse(readFileSync('examples/seed-cluster.yaml', 'utf8')) as Doc & Record<string, unknown>;
  doc.profile = 'postgres';
  delete doc.storageDaemon;
  doc.binaries = { dir: '/usr/lib/postgresql/15', install: 'installed' };
  doc.storage = { image: '/data/VirtualDisk.img', diskName: 'nvme1n1', mountPoint: '/mnt/nvme1n1', dataDir: '/mnt/nvme1n1/pgdata' };
  (doc.nodes[2] as unknown as { storage: Record<string, unknown> }).storage = {
    image: '/data/VirtualDisk_standby.img',
    diskName: 'nvme2n1',
    mountPoint: '/mnt/nvme2n1',
    dataDir: '/mnt/nvme2n1/pgdata',
  };
  delete doc.failover;
  doc.nodes[0]!.host = { ...doc.nodes[0]!.host, provision };
  return doc;
}

const problems = (doc: Doc): string[] => {
  try {
    parseSpec(doc);
    return [];
  } catch (err) {
    if (err instanceof SpecError) return err.problems;
    throw err;
  }
};

test('provision: accepted with its defaults, and becomes this docker run', () => {
  const spec = parseSpec(seedWith({ image: PROVISION.image }));
  // pb1 as given here, pb2 as the seed example has it; pb3 (its container survives) has none.
  assert.deepEqual(
    provisionedNodes(spec).map((n) => n.name),
    ['pb1', 'pb2'],
  );
  const full = parseSpec(seedWith(PROVISION));
  const h = full.nodes[0]!.host;
  assert.ok(h.transport === 'docker' && h.provision);
  assert.deepEqual(dockerRunArgv(h.container, h.provision), [
    ...['docker', 'run', '-d', '--name', 'pb1', '--hostname', 'pb1', '--network', 'seed-net', '--ip', '10.213.5.2'],
    ...['-v', '/srv/seed/images:/data', '--cap-add', 'SYS_ADMIN', '--cap-add', 'MKNOD', '--device', '/dev/loop-control'],
    ...['--device-cgroup-rule=b 7:* rmw', '--security-opt', 'seccomp=unconfined', 'polar-runbook-host:0123456789ab'],
  ]);
});

test('provision: what could become an option or a shell word is refused, naming the field', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ image: '--privileged' }, /nodes\.0\.host\.provision\.image/],
    [{ image: 'x', volumes: ['/a:/b:ro,z'] }, /provision\.volumes\.0/],
    [{ image: 'x', volumes: ['relative:/b'] }, /provision\.volumes\.0/],
    [{ image: 'x', capabilities: ['ALL; rm'] }, /provision\.capabilities\.0/],
    [{ image: 'x', deviceCgroupRules: ['b 7:* rwmx'] }, /provision\.deviceCgroupRules\.0/],
    [{ image: 'x', ip: '10.0.0.2' }, /provision\.ip: an ip needs its network/],
    [{ image: 'x', ip: '10.0.0.256', network: 'n' }, /provision\.ip/],
    [{ image: 'x', privileged: true }, /provision/],
  ];
  for (const [p, why] of bad) {
    const found = problems(seedWith(p));
    assert.ok(
      found.some((x) => why.test(x)),
      `${JSON.stringify(p)}: no problem matching ${why} in ${JSON.stringify(found)}`,
    );
  }
});

test('the plan provisions right after the fence, and makes the loop device nodes in the containers', () => {
  const plan = renderPlan(parseSpec(seedWith(PROVISION)), postgresProfile);
  const sections = plan.split('\n').filter((l) => l.startsWith('## '));
  assert.match(sections[0]!, /^## 1\. no other runbook acts on the cluster/);
  assert.match(sections[1]!, /^## 2\. fence/);
  assert.match(sections[2]!, /^## 3\. provision: the hosts whose containers are gone/);
  assert.ok(plan.includes('worker$ docker run -d --name pb1 --hostname pb1 --network seed-net --ip 10.213.5.2'), plan);
  assert.ok(plan.includes('never replaced'));
  assert.ok(plan.includes("the kernel's loop devices get their nodes in the container's own /dev"));
});
