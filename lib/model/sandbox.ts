// sandboxSpec: the ClusterSpec of a drill's sandbox, derived from the production spec. Pure (the
// drill workflow calls it). The sandbox is the same cluster on copies of its disks: its own
// cluster name, disk names, device links, mount points, local dirs and ports, all below one
// sandbox dir, so that a recovery of the sandbox can touch nothing of production.
import { DRILL_MARKER } from './drill.js';
import { trimSlash, within } from './paths.js';
import { modelOf } from './profiles/index.js';
import { parseSpec, primaryOf, type ClusterSpec, type ClusterSpecInput, type Disk, type NodeSpec } from './spec.js';

export interface SandboxParams {
  /** Where sandboxes live (spec.drill.sandboxRoot, else the worker's default). */
  root: string;
  /** This sandbox's dir name below root (`<cluster>-<yyyymmddThhmmss>`). */
  name: string;
  /** A free port per node, in the order of spec.nodes. */
  ports: number[];
  /** Six hex digits that make the sandbox's names unique (the drill passes the last six of its run id). */
  seed: string;
  /** Sandbox disk names whose copy turned out to be a block device (a snapshotCommand linked one). */
  deviceCopies?: string[];
  /** The row the drill wrote on the production primary before the copy, and the LSN after its commit. */
  marker?: { id: string; lsn: string };
  /**
   * A failover drill: the spec's failover section goes into the sandbox too, its read-only nodes on
   * these ports (one per failover.replicasAfter, in order) and below the sandbox dir.
   */
  failoverPorts?: number[];
}

/** One disk to copy: the production disk, where its copy goes, and what the copy is called. */
export interface DiskCopy {
  /** The production node on whose host the copy is taken (the primary for the shared disk). */
  node: string;
  which: 'shared' | 'own';
  source: Disk;
  /** Where the copy goes: an image file in the sandbox, or a link to a block device a snapshotCommand made. */
  target: string;
  /** The copy's disk in the sandbox spec. */
  disk: Disk;
}

export interface Sandbox {
  /** The production cluster. */
  cluster: string;
  /** The sandbox's cluster name (its recovery runs as recover/<sandboxCluster>). */
  sandboxCluster: string;
  root: string;
  dir: string;
  marker: string;
  spec: ClusterSpec;
  /** Standbys' own disks first, the shared disk last (see snapshotStorage for why). */
  copies: DiskCopy[];
  /** Directories the sandbox needs before its recovery, with their owner. */
  dirs: { node: string; path: string; owner: string }[];
}

/** sun_path holds 108 bytes with the final NUL; the postgres profile puts the sockets in the local dirs. */
const MAX_SOCKET_PATH = 107;
const SEED = /^[0-9a-f]{6}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/;
const PLAIN_PATH = /^\/[A-Za-z0-9_.+@:=,/-]*$/;

const overlaps = (a: string, b: string): boolean => within(a, b) || within(b, a);

/** The production paths a drill must never write to: its disks, device links, mounts, local dirs, files. */
export function productionPaths(spec: ClusterSpec): string[] {
  const { dataDirOnHost } = modelOf(spec);
  const disk = (d: Disk | undefined): string[] =>
    d
      ? [
          ...(d.image ? [d.image] : []),
          ...(d.device ? [d.device] : []),
          `/dev/${d.diskName}`,
          ...(d.mountPoint ? [d.mountPoint] : []),
          // A PFS path (polardb) is not a path on the host.
          ...(dataDirOnHost && d.dataDir ? [d.dataDir] : []),
        ]
      : [];
  return [
    ...disk(spec.storage),
    ...spec.nodes.flatMap((n) => [n.localDir, ...disk(n.storage)]),
    ...(spec.binaries.install !== 'installed' ? [spec.binaries.dir] : []),
    ...(spec.verify.fingerprintFile ? [spec.verify.fingerprintFile] : []),
  ];
}

export class SandboxError extends Error {
  override name = 'SandboxError';
}

/**
 * `<disk>_d<seed>`: a disk (and device link) name of the sandbox's own, within the 63 characters a
 * disk name has. An underscore, not a dash: pfsd finds its daemons with `grep -w <disk>`, and
 * `nvme1n1_d3f9a1c` is one word, never matched by the production `nvme1n1`.
 */
export const sandboxDiskName = (diskName: string, seed: string): string => `${diskName.slice(0, 63 - 8)}_d${seed}`;

/** `<cluster>-drill-<seed>`, cut to the cluster name's 63 characters. */
export const sandboxClusterName = (cluster: string, seed: string): string => `${cluster.slice(0, 63 - 13)}-drill-${seed}`;

/** `<cluster>-<yyyymmddThhmmss>` (UTC), the sandbox dir's name. */
export const sandboxDirName = (cluster: string, at: Date): string =>
  `${cluster}-${at
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')}`;

export function sandboxSpec(spec: ClusterSpec, p: SandboxParams): Sandbox {
  if (!SEED.test(p.seed)) throw new SandboxError(`the sandbox seed must be six hex digits (got ${JSON.stringify(p.seed)})`);
  if (!NAME.test(p.name)) throw new SandboxError(`the sandbox name ${JSON.stringify(p.name)} must match ${NAME.source}`);
  const root = trimSlash(p.root);
  if (!PLAIN_PATH.test(root) || root === '/' || root.split('/').includes('..'))
    throw new SandboxError(`the sandbox root ${p.root} must be an absolute plain path other than /`);
  if (p.ports.length !== spec.nodes.length)
    throw new SandboxError(`the sandbox needs ${spec.nodes.length} ports, one per node (got ${p.ports.length})`);
  if (new Set(p.ports).size !== p.ports.length) throw new SandboxError(`the sandbox ports must all differ (got ${p.ports.join(', ')})`);
  const prodPorts = new Set(spec.nodes.map((n) => n.port));
  const clash = p.ports.filter((x) => prodPorts.has(x));
  if (clash.length) throw new SandboxError(`the sandbox ports ${clash.join(', ')} are the production cluster's`);

  const dir = `${root}/${p.name}`;
  // Teardown removes the sandbox dir whole: nothing of production may lie in it, nor it in production.
  for (const prod of productionPaths(spec))
    if (overlaps(dir, prod))
      throw new SandboxError(`the sandbox dir ${dir} overlaps the production path ${prod}: choose another sandboxRoot`);

  const seed = p.seed;
  const devices = new Set(p.deviceCopies ?? []);
  const dirs: Sandbox['dirs'] = [];
  const primary = primaryOf(spec);
  const model = modelOf(spec);

  const copyOf = (d: Disk): { disk: Disk; target: string } => {
    const name = sandboxDiskName(d.diskName, seed);
    const target = `${dir}/images/${name}.img`;
    const mountPoint = d.mountPoint ? `${dir}/mnt/${name}` : undefined;
    let dataDir: string | undefined;
    if (d.dataDir && model.dataDirOnHost) {
      // The data dir sits at the same place below the copy's mount point as below the original's.
      if (!d.mountPoint || !within(d.mountPoint, d.dataDir))
        throw new SandboxError(`the data dir ${d.dataDir} is not below its mount point ${d.mountPoint}`);
      dataDir = `${mountPoint}${d.dataDir.slice(trimSlash(d.mountPoint).length)}`;
    } else if (d.dataDir) {
      // PFS: /<disk name>/<path>; the copy is reached through its own disk name.
      const prefix = `/${d.diskName}/`;
      dataDir = d.dataDir.startsWith(prefix) ? `/${name}/${d.dataDir.slice(prefix.length)}` : d.dataDir;
    }
    const disk: Disk = {
      ...(devices.has(name) ? { device: target } : { image: target }),
      diskName: name,
      directIo: d.directIo,
      ...(mountPoint ? { mountPoint } : {}),
      ...(dataDir ? { dataDir } : {}),
    };
    return { disk, target };
  };

  const copies: DiskCopy[] = [];
  const nodes = spec.nodes.map((n, i): NodeSpec => {
    const home = `${dir}/hosts/${n.name}`;
    dirs.push({ node: n.name, path: home, owner: n.osUser });
    const node: NodeSpec = {
      ...n,
      // The sandbox runs on the same hosts, and never makes one: no host.provision (a drill that
      // finds a production container gone must not create it).
      host: n.host.transport === 'docker' ? { transport: 'docker', container: n.host.container } : n.host,
      // A local node listens on loopback only.
      address: n.host.transport === 'local' ? '127.0.0.1' : n.address,
      port: p.ports[i]!,
      localDir: `${home}/pg`,
    };
    if (n.storage) {
      const c = copyOf(n.storage);
      node.storage = c.disk;
      copies.push({ node: n.name, which: 'own', source: n.storage, target: c.target, disk: c.disk });
    }
    return node;
  });
  const shared = copyOf(spec.storage);
  copies.push({ node: primary.name, which: 'shared', source: spec.storage, target: shared.target, disk: shared.disk });

  const binaries = { ...spec.binaries };
  if (binaries.install !== 'installed') {
    // Copied or linked from the (read-only) source into the sandbox, never into the production path.
    const base = binaries.dir.slice(binaries.dir.lastIndexOf('/') + 1) || 'base';
    binaries.dir = `${dir}/binaries/${base}`;
    for (const n of spec.nodes) dirs.push({ node: n.name, path: `${dir}/binaries`, owner: n.osUser });
  }

  let failover: ClusterSpecInput['failover'];
  if (p.failoverPorts) {
    const f = spec.failover;
    if (!f) throw new SandboxError(`a failover drill needs the spec's failover section (failover.replicasAfter)`);
    if (p.failoverPorts.length !== f.replicasAfter.length)
      throw new SandboxError(
        `the sandbox needs ${f.replicasAfter.length} ports for failover.replicasAfter (got ${p.failoverPorts.length})`,
      );
    const taken = new Set([...p.ports, ...prodPorts, ...spec.failover!.replicasAfter.map((r) => r.port)]);
    const wrong = p.failoverPorts.filter((x, i) => taken.has(x) || p.failoverPorts!.indexOf(x) !== i);
    if (wrong.length) throw new SandboxError(`the sandbox's failover ports ${wrong.join(', ')} are taken`);
    failover = {
      ...f,
      replicasAfter: f.replicasAfter.map((r, i) => {
        // Its sandbox dir is made with the sandbox of the node of that name, on the same host.
        const twin = spec.nodes.find((n) => n.name === r.name);
        // The same host: the same transport and address (how a host would be provisioned is not who it is).
        const hostOf = (h: NodeSpec['host']) => JSON.stringify({ ...h, provision: undefined });
        if (!twin || hostOf(twin.host) !== hostOf(r.host) || twin.osUser !== r.osUser)
          throw new SandboxError(
            `a failover drill needs each read-only node after the failover on the host (and OS user) of the node of the same name: ${r.name} is not`,
          );
        const home = `${dir}/hosts/${r.name}`;
        return {
          ...r,
          address: r.host.transport === 'local' ? '127.0.0.1' : r.address,
          port: p.failoverPorts![i]!,
          localDir: `${home}/pg-after-failover`,
        };
      }),
    };
  }

  const allLocal = spec.nodes.every((n) => n.host.transport === 'local');
  const input: ClusterSpecInput = {
    cluster: sandboxClusterName(spec.cluster, seed),
    profile: spec.profile,
    storage: shared.disk,
    storageDaemon: spec.storageDaemon,
    binaries,
    replication: { ...spec.replication, network: allLocal ? '127.0.0.1/32' : spec.replication.network },
    // The copy has the same roles and passwords: the password file is read, never written.
    connection: spec.connection,
    nodes,
    // Nobody approves a drill: what would wait for an operator fails instead.
    slots: { expected: spec.slots.expected, onMissing: spec.slots.onMissing === 'create' ? 'create' : 'fail' },
    fencing: { onUnprovable: 'fail' },
    // No fingerprint: production keeps writing, so no fingerprint taken before the copy describes
    // it, and one taken of the copy would prove nothing. The tables and the probe row everywhere do.
    // The copy is checked as hard as it can be: amcheck, the operator's invariants, the marker.
    verify: {
      tables: spec.verify.tables,
      probeTimeoutSeconds: spec.verify.probeTimeoutSeconds,
      amcheck: spec.verify.amcheck,
      amcheckTimeoutSeconds: spec.verify.amcheckTimeoutSeconds,
      invariants: spec.verify.invariants,
      ...(p.marker ? { drillMarker: p.marker } : {}),
    },
    ...(failover ? { failover } : {}),
  };
  let out: ClusterSpec;
  try {
    out = parseSpec(input);
  } catch (err) {
    throw new SandboxError(`the sandbox spec is invalid: ${(err as Error).message}`);
  }
  if (model.socketsInLocalDir)
    for (const n of [...out.nodes, ...(out.failover?.replicasAfter ?? [])]) {
      const socket = `${n.localDir}/.s.PGSQL.${n.port}`;
      if (socket.length > MAX_SOCKET_PATH)
        throw new SandboxError(`the socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes: give a shorter drill.sandboxRoot`);
    }
  return { cluster: spec.cluster, sandboxCluster: out.cluster, root, dir, marker: `${dir}/${DRILL_MARKER}`, spec: out, copies, dirs };
}
