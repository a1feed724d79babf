// The seed's own topology: one container per node (pb1 the primary, pb2.. the replicas, the last
// the standby) on a bridge network the lab makes, the images directory mounted at /data, each
// node at its container's bridge address on port 5432, reached through `docker exec`. Every node
// carries host.provision, so a recovery whose containers are gone makes them again (seed 1-2).
import { randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterSpecInput } from '../../lib/model/spec.js';
import { LAB_TABLES } from '../spec.js';
import type { LabPaths } from '../layout.js';
import { exists } from '../system.js';
import { docker, runningEngine, type Engine } from './engine.js';

type NodeInput = ClusterSpecInput['nodes'][number];

/** containers.json: written before anything is made in the engine, so destroy finds it all. */
export interface ContainersFile {
  engineRoot: string;
  network: string;
  subnet?: string;
  containers: string[];
}

export const containersFile = (p: LabPaths): string => join(p.root, 'containers.json');

export async function readContainersFile(p: LabPaths): Promise<ContainersFile | undefined> {
  const f = containersFile(p);
  return (await exists(f)) ? (JSON.parse(await readFile(f, 'utf8')) as ContainersFile) : undefined;
}

export const writeContainersFile = (p: LabPaths, c: ContainersFile): Promise<void> =>
  writeFile(containersFile(p), JSON.stringify(c, null, 2) + '\n');

export const networkName = (id: string): string => `${id}-net`;
export const containerName = (id: string, node: string): string => `${id}-${node}`;
/** Where the images directory appears in every container, as in the seed. */
export const DATA = '/data';

/** IPv4 networks (address, mask, as numbers) this machine routes to already, from /proc/net/route. */
async function routedNetworks(): Promise<[number, number][]> {
  const text = await readFile('/proc/net/route', 'utf8').catch(() => '');
  const le = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);
  return text
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 7 && f[1] !== '00000000') // not the default route
    .map((f) => [le(f[1]!), le(f[7]!)] as [number, number]);
}

const ip4 = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/**
 * Makes the lab's bridge network on a /24 from 10.213.0.0/16 that no route of this machine and no
 * network of the engine uses; returns its subnet. Traffic to it stays on this machine's bridge.
 */
export async function createNetwork(engine: Engine, name: string, log: (line: string) => void): Promise<string> {
  const routes = await routedNetworks();
  for (let tries = 0; tries < 20; tries++) {
    const base = ((10 << 24) | (213 << 16) | (randomInt(1, 255) << 8)) >>> 0;
    // Two networks overlap when they agree on the bits both masks cover.
    const overlaps = routes.some(([dst, mask]) => {
      const m = (mask & 0xffffff00) >>> 0;
      return (base & m) >>> 0 === (dst & m) >>> 0;
    });
    if (overlaps) continue;
    const subnet = `${ip4(base)}/24`;
    try {
      await docker(engine, ['network', 'create', '--driver', 'bridge', '--subnet', subnet, '--label', 'polar-runbook.lab=1', name]);
      log(`network ${name} ${subnet}`);
      return subnet;
    } catch (err) {
      if (!/overlap/i.test((err as Error).message)) throw err;
    }
  }
  throw new Error('no free /24 in 10.213.0.0/16 for the lab network: remove old lab networks (npm run lab -- destroy --all)');
}

/** The .2, .3, … addresses of the subnet, in node order (the seed's pb1 .2, pb2 .3, pb3 .4). */
export const addressIn = (subnet: string, k: number): string => subnet.replace(/\.0\/24$/, `.${k + 1}`);

/** The lab's spec for containers: same nodes, slots, data and standby as the single-host lab. */
export function containerSpecInput(
  id: string,
  p: LabPaths,
  o: { image: string; network: string; subnet: string; replicas: number },
): ClusterSpecInput {
  const standbyNo = o.replicas + 2;
  const provision = (k: number) => ({
    image: o.image,
    network: o.network,
    ip: addressIn(o.subnet, k),
    volumes: [`${p.imagesDir}:${DATA}`, ...(k === standbyNo ? [`${p.hostsDir}/pb${k}:/home/postgres`] : [])],
    capabilities: ['SYS_ADMIN', 'MKNOD'],
    devices: ['/dev/loop-control'],
    deviceCgroupRules: ['b 7:* rmw'],
    securityOpts: ['seccomp=unconfined'],
  });
  const node = (k: number, role: NodeInput['role'], dir: string, slot?: string): NodeInput => ({
    name: `pb${k}`,
    role,
    host: { transport: 'docker', container: containerName(id, `pb${k}`), provision: provision(k) },
    address: addressIn(o.subnet, k),
    port: 5432,
    localDir: `/home/postgres/${dir}`,
    ...(slot ? { slot } : {}),
  });
  const disk = (d: 'shared' | 'standby', name: string) => ({
    image: `${DATA}/${d}.img`,
    diskName: name,
    directIo: true,
    mountPoint: `/mnt/${name}`,
    dataDir: `/mnt/${name}/pgdata`,
  });
  const nodes: NodeInput[] = [
    node(1, 'primary', 'primary'),
    ...Array.from({ length: o.replicas }, (_, i) => node(i + 2, 'replica', `replica${i + 1}`, `replica${i + 1}`)),
    { ...node(standbyNo, 'standby', 'standby', 'standby1'), storage: disk('standby', 'nvme2n1') },
  ];
  const replicasAfter = Array.from({ length: o.replicas }, (_, i) => {
    const { role: _role, ...n } = node(i + 2, 'replica', `replica${i + 1}-after-failover`, `replica${i + 1}`);
    void _role;
    return n;
  });
  return {
    cluster: id,
    profile: 'postgres',
    storage: disk('shared', 'nvme1n1'),
    binaries: { dir: '/usr/lib/postgresql/15', install: 'installed', shareDir: '/usr/share/postgresql/15' },
    replication: { network: o.subnet, user: 'postgres' },
    connection: { user: 'postgres', database: 'postgres', passwordFile: p.passwordFile },
    nodes,
    slots: { expected: nodes.flatMap((n) => (n.slot ? [n.slot] : [])), onMissing: 'fail' },
    verify: { tables: LAB_TABLES, fingerprintFile: p.fingerprintFile, probeTimeoutSeconds: 30 },
    failover: { maxLagBytes: 16 * 1024 * 1024, maxLagSeconds: 60, replicasAfter },
  };
}

/**
 * Removes the lab's containers and network from its engine (when that engine runs). The engine
 * itself is left running: stopEngine (or stopIdleEngine) ends it.
 */
export async function removeContainers(c: ContainersFile, log: (line: string) => void): Promise<void> {
  const engine = await runningEngine(c.engineRoot);
  if (!engine) return;
  for (const name of c.containers) {
    const there = await docker(engine, ['container', 'inspect', '--format', '{{.Id}}', name], 30_000).then(
      () => true,
      () => false,
    );
    if (!there) continue;
    await docker(engine, ['rm', '-f', '-v', name], 120_000);
    log(`removed container ${name}`);
  }
  await docker(engine, ['network', 'rm', c.network], 60_000).then(
    () => log(`removed network ${c.network}`),
    (err: Error) => {
      if (!/not found|No such network/i.test(err.message)) throw err;
    },
  );
}
