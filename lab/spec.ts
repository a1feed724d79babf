// The lab's ClusterSpec: the seed's topology on loopback. pb1 is the primary, pb2.. are the
// replicas (replica1.., each streaming through the slot of the same name), the last host runs
// the standby on its own disk (slot standby1). Node name = host dir name = the seed's names.
import type { ClusterSpecInput } from '../lib/model/spec.js';
import type { LabPaths } from './layout.js';

/** The seed's tables; the fingerprint taken before the disaster covers all of them. */
export const LAB_TABLES = ['t', 't1', 't2', 'tbl'];
/** sun_path holds 108 bytes with the final NUL; the sockets live in the local dirs. */
const MAX_SOCKET_PATH = 107;

type NodeInput = ClusterSpecInput['nodes'][number];

/** `ports` in node order: primary, replicas, standby. */
export function labSpecInput(id: string, p: LabPaths, ports: number[], replicas: number): ClusterSpecInput {
  const host = (k: number) => `${p.hostsDir}/pb${k}`;
  const node = (k: number, role: NodeInput['role'], dir: string, slot?: string): NodeInput => ({
    name: `pb${k}`,
    role,
    host: { transport: 'local' },
    address: '127.0.0.1',
    port: ports[k - 1]!,
    localDir: `${host(k)}/${dir}`,
    ...(slot ? { slot } : {}),
  });
  const disk = (d: 'shared' | 'standby') => ({
    image: p.image[d],
    diskName: p.diskName[d],
    directIo: true,
    mountPoint: p.mountPoint[d],
    dataDir: p.dataDir[d],
  });
  const standbyNo = replicas + 2;
  const nodes: NodeInput[] = [
    node(1, 'primary', 'primary'),
    ...Array.from({ length: replicas }, (_, i) => node(i + 2, 'replica', `replica${i + 1}`, `replica${i + 1}`)),
    { ...node(standbyNo, 'standby', 'standby', 'standby1'), storage: disk('standby') },
  ];
  // After a failover to the standby, each replica's host runs a read-only node of the promoted
  // standby again: a new local dir, the same port and slot name.
  const replicasAfter = Array.from({ length: replicas }, (_, i) => {
    const { role: _role, ...n } = node(i + 2, 'replica', `replica${i + 1}-after-failover`, `replica${i + 1}`);
    void _role;
    return n;
  });
  for (const n of [...nodes, ...replicasAfter]) {
    const socket = `${n.localDir}/.s.PGSQL.${n.port}`;
    if (socket.length > MAX_SOCKET_PATH)
      throw new Error(`the socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes: use a shorter lab id or POLAR_LAB_ROOT`);
  }
  return {
    cluster: id,
    profile: 'postgres',
    storage: disk('shared'),
    binaries: { dir: '/usr/lib/postgresql/15', install: 'installed', shareDir: '/usr/share/postgresql/15' },
    replication: { network: '127.0.0.1/32', user: 'postgres' },
    connection: { user: 'postgres', database: 'postgres', passwordFile: p.passwordFile },
    nodes,
    slots: { expected: nodes.flatMap((n) => (n.slot ? [n.slot] : [])), onMissing: 'fail' },
    verify: { tables: LAB_TABLES, fingerprintFile: p.fingerprintFile, probeTimeoutSeconds: 30 },
    failover: { maxLagBytes: 16 * 1024 * 1024, maxLagSeconds: 60, replicasAfter },
  };
}
