// The drill's steps on the hosts and the worker: reserve the sandbox's ports, copy the storage
// into the sandbox, take the sandbox away, record the result. (Whether the cluster is idle is
// asked of the Temporal server: activities/drill.ts.)
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { asRecorded, type DrillResult } from '../model/drill.js';
import type { DiskCopy, Sandbox } from '../model/sandbox.js';
import { copyMethodOf, nodeNamed, primaryOf, type ClusterSpec } from '../model/spec.js';
import { writeDrillMarker } from '../consistency.js';
import { whoAnswers, withDb } from '../db.js';
import type { Journal } from '../ops.js';
import { must } from '../ops.js';
import { DRILL_MARKER_INSERT_SQL, withParam } from '../sql.js';
import { copyDisks, copyHost, copyStandbyDirs, drillFailure, hostsOf, makeSandboxDir, markerText, teardownOnHost } from '../sandbox.js';
import type { StepEnv } from './env.js';

/** Free ports on loopback, all different and none of `avoid` (bind port 0, read it, close). */
async function freePorts(n: number, avoid: Set<number>): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    if (!avoid.has(port)) ports.add(port);
  }
  return [...ports];
}

export type DrillMarker = { id: string; lsn: string; writtenAt: string };
const MARKER_FILE = 'drill-marker.json';

/**
 * The drill's marker row on the production primary, once per drill: its LSN is kept in the
 * sandbox dir on the primary's host, so a retried snapshot (whose copies may already be in place)
 * checks against the first marker, not a later one. A primary that does not answer (the cluster is
 * down: nothing writes, the copy cannot tear) gets none, and the report says so.
 */
async function writeMarkerOnce(
  hostFor: StepEnv['hostFor'],
  spec: ClusterSpec,
  sb: Sandbox,
  run: { workflowId: string; runId: string },
  j: Journal,
): Promise<DrillMarker | undefined> {
  const primary = primaryOf(spec);
  const host = hostFor(primary);
  const file = `${sb.dir}/${MARKER_FILE}`;
  const kept = await host.run({ argv: ['cat', '--', file], as: 'root', timeoutMs: 30_000 });
  if (kept.exitCode === 0) {
    const m = JSON.parse(kept.stdout) as DrillMarker;
    j.skipped.push(`drill marker ${m.id} already written (flushed at ${m.lsn})`);
    return m;
  }
  const who = await whoAnswers(spec, primary);
  if (who.state !== 'ours' || who.inRecovery) {
    j.skipped.push(
      `no drill marker: the production primary ${primary.name} ${who.state === 'ours' ? 'is in recovery' : `does not answer as itself (${who.detail})`}; the copy is checked by amcheck and the invariants only`,
    );
    return undefined;
  }
  const id = `drill:${run.runId}`;
  const m = await withDb(spec, primary, (db) => writeDrillMarker(db, id), 10_000);
  j.ran(primary.name, `${withParam(DRILL_MARKER_INSERT_SQL, id)}; select pg_current_wal_flush_lsn() -> ${m.lsn}`);
  await must(host, { argv: ['tee', '--', file], as: 'root', input: JSON.stringify(m) + '\n', timeoutMs: 30_000 });
  j.verified.push(`drill marker ${id} committed and flushed on ${primary.name} at ${m.lsn}, before the copy`);
  return m;
}

/**
 * Where the sandbox goes (the spec's drill.sandboxRoot, else `root`) and a free port for each of its
 * nodes; `failover`: then one more for each read-only node after the failover
 * (failover.replicasAfter), after those of the nodes.
 */
export async function reserveSandbox(spec: ClusterSpec, root: string, failover: boolean): Promise<{ root: string; ports: number[] }> {
  const after = failover ? (spec.failover?.replicasAfter ?? []) : [];
  const avoid = new Set([...spec.nodes, ...after].map((n) => n.port));
  return { root: spec.drill?.sandboxRoot ?? root, ports: await freePorts(spec.nodes.length + after.length, avoid) };
}

/**
 * Makes the sandbox (dir, marker, owned dirs on every host) and copies every disk into it. The
 * disks of one host are frozen together and copied in one instant; across hosts the standbys'
 * disks go first, so the copied primary is never behind a copied standby (a standby ahead of
 * its primary could never stream from it again). Idempotent: a copy already in place is kept,
 * a partial one is started over.
 */
export async function snapshotStorage({ hostFor, j }: StepEnv, spec: ClusterSpec, sb: Sandbox, run: { workflowId: string; runId: string }) {
  // Refuse before making anything.
  const method = copyMethodOf(spec);
  if (!method)
    throw drillFailure(
      'SnapshotUnsupported',
      'the polardb profile keeps its data in PFS, which no host can freeze: a drill of it needs drill.copyMethod pfsd-freeze or drill.snapshotCommand',
    );
  for (const c of sb.copies) {
    if (method === 'snapshot-command') continue;
    if (!c.source.image)
      throw drillFailure(
        'SnapshotUnsupported',
        `disk ${c.source.diskName} is the block device ${c.source.device}: only a snapshot command can copy it`,
      );
  }
  const marker = markerText(sb, run);
  for (const { host, nodes } of hostsOf(sb.spec, hostFor)) {
    const names = new Set(nodes.map((n) => n.name));
    await makeSandboxDir(
      host,
      sb,
      marker,
      sb.dirs.filter((d) => names.has(d.node)),
      j,
    );
  }
  // The marker, committed and flushed on production BEFORE any copy starts: a point-in-time
  // copy must hold it. Written once per drill (a retry reuses the LSN the first attempt kept).
  const drillMark = await writeMarkerOnce(hostFor, spec, sb, run, j);
  // Grouped by the host that holds them (in the copies' order: standbys' disks first): all the
  // disks of one host are copied in one freeze.
  const groups = new Map<string, DiskCopy[]>();
  for (const c of sb.copies) {
    const key = JSON.stringify(nodeNamed(spec, c.node).host);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const copies = [];
  for (const group of groups.values()) copies.push(...(await copyDisks(copyHost(spec, group[0]!, hostFor), spec, sb, group, j)));
  const standbyDirs = await copyStandbyDirs(spec, sb, hostFor, j);
  return {
    copyMethod: method,
    copies,
    deviceCopies: copies.filter((c) => c.kind === 'device').map((c) => c.disk),
    ...(drillMark ? { marker: drillMark } : {}),
    ...(standbyDirs.length ? { standbyDirs } : {}),
  };
}

/** Stops, unmounts, detaches and removes everything of the sandbox on every host; only a dir with the drill's marker. */
export async function teardownSandbox({ hostFor, j }: StepEnv, sb: Sandbox) {
  const hosts = [];
  for (const { host } of hostsOf(sb.spec, hostFor)) hosts.push(await teardownOnHost(host, sb, j));
  return { hosts };
}

/** One JSON line per drill in the drill history `file` (once per run, also when retried). */
export async function recordDrill(file: string, result: DrillResult): Promise<{ file: string; appended: boolean }> {
  await mkdir(dirname(file), { recursive: true });
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  if (text.includes(`"runId":${JSON.stringify(result.runId)}`)) return { file, appended: false };
  await appendFile(file, JSON.stringify(asRecorded(result)) + '\n');
  return { file, appended: true };
}
