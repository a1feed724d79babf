// The drill's activities: is the cluster idle (no recovery, no other drill), reserve the
// sandbox's ports, copy the storage into the sandbox, take the sandbox away, record the result.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Context } from '@temporalio/activity';
import { asRecorded, DEFAULT_DRILL_HISTORY, DEFAULT_SANDBOX_ROOT, type DrillResult } from '../lib/model/drill.js';
import { failoverWorkflowId, recoveryWorkflowId } from '../lib/model/input.js';
import type { StepResult } from '../lib/model/report.js';
import type { DiskCopy, Sandbox } from '../lib/model/sandbox.js';
import { copyMethodOf, nodeNamed, primaryOf, type ClusterSpec } from '../lib/model/spec.js';
import { writeDrillMarker } from '../lib/consistency.js';
import { whoAnswers, withDb } from '../lib/db.js';
import type { Journal } from '../lib/ops.js';
import { must } from '../lib/ops.js';
import { DRILL_MARKER_INSERT_SQL, withParam } from '../lib/sql.js';
import { runningRunbook } from './running.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { copyDisks, copyHost, copyStandbyDirs, drillFailure, hostsOf, makeSandboxDir, markerText, teardownOnHost } from '../lib/sandbox.js';

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
  deps: ActivityDeps,
  spec: ClusterSpec,
  sb: Sandbox,
  run: { workflowId: string; runId: string },
  j: Journal,
): Promise<DrillMarker | undefined> {
  const primary = primaryOf(spec);
  const host = deps.hostFor(primary);
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

export const drillHistoryFile = (deps: ActivityDeps): string =>
  deps.drillHistoryFile ?? process.env.POLAR_DRILL_HISTORY ?? DEFAULT_DRILL_HISTORY;

export const createDrillActivities = (deps: ActivityDeps) => ({
  /**
   * A drill never runs beside a real recovery of its cluster (recover/<cluster> running), nor
   * beside another drill of it. Asked of the Temporal server through the worker's own client.
   */
  async checkIdle(cluster: string, self: { workflowId: string; runId: string }): Promise<StepResult> {
    const j = journalOf(deps);
    // A failover of the cluster is a real disaster too: no drill beside it either.
    for (const [what, id] of [
      ['recovery', recoveryWorkflowId(cluster)],
      ['failover', failoverWorkflowId(cluster)],
    ]) {
      const running = await runningRunbook(id!, j);
      if (running)
        throw drillFailure('RecoveryRunning', `the ${what} ${running.id} (run ${running.runId}) is running since ${running.since}`);
    }
    const client = Context.current().client;
    // Visibility is eventually consistent: this catches drills started earlier, not one started
    // in the same second (two such drills have different sandboxes and cannot freeze the same
    // filesystem twice: the second freeze fails and that drill stops).
    const query = `WorkflowType = 'drill' AND ExecutionStatus = 'Running' AND ClusterName = '${cluster}'`;
    for await (const w of client.workflow.list({ query })) {
      if (w.runId !== self.runId && w.workflowId !== self.workflowId)
        throw drillFailure('DrillRunning', `the drill ${w.workflowId} (run ${w.runId}) of ${cluster} is running`);
    }
    j.verified.push(`no other drill of ${cluster} is running`);
    return resultOf(j);
  },

  /**
   * Where the sandbox goes and a free port for each of its nodes; `failover`: then one more for
   * each read-only node after the failover (failover.replicasAfter), after those of the nodes.
   */
  async reserveSandbox(spec: ClusterSpec, failover = false): Promise<{ root: string; ports: number[] }> {
    const root = spec.drill?.sandboxRoot ?? deps.drillRoot ?? process.env.POLAR_DRILL_ROOT ?? DEFAULT_SANDBOX_ROOT;
    const after = failover ? (spec.failover?.replicasAfter ?? []) : [];
    const avoid = new Set([...spec.nodes, ...after].map((n) => n.port));
    return { root, ports: await freePorts(spec.nodes.length + after.length, avoid) };
  },

  /**
   * Makes the sandbox (dir, marker, owned dirs on every host) and copies every disk into it. The
   * disks of one host are frozen together and copied in one instant; across hosts the standbys'
   * disks go first, so the copied primary is never behind a copied standby (a standby ahead of
   * its primary could never stream from it again). Idempotent: a copy already in place is kept,
   * a partial one is started over.
   */
  async snapshotStorage(spec: ClusterSpec, sb: Sandbox, run: { workflowId: string; runId: string }) {
    const j = journalOf(deps);
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
    for (const { host, nodes } of hostsOf(sb.spec, deps.hostFor)) {
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
    const drillMark = await writeMarkerOnce(deps, spec, sb, run, j);
    // Grouped by the host that holds them (in the copies' order: standbys' disks first): all the
    // disks of one host are copied in one freeze.
    const groups = new Map<string, DiskCopy[]>();
    for (const c of sb.copies) {
      const key = JSON.stringify(nodeNamed(spec, c.node).host);
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    const copies = [];
    for (const group of groups.values()) copies.push(...(await copyDisks(copyHost(spec, group[0]!, deps.hostFor), spec, sb, group, j)));
    const standbyDirs = await copyStandbyDirs(spec, sb, deps.hostFor, j);
    return resultOf(j, {
      copyMethod: method,
      copies,
      deviceCopies: copies.filter((c) => c.kind === 'device').map((c) => c.disk),
      ...(drillMark ? { marker: drillMark } : {}),
      ...(standbyDirs.length ? { standbyDirs } : {}),
    });
  },

  /** Stops, unmounts, detaches and removes everything of the sandbox on every host; only a dir with the drill's marker. */
  async teardownSandbox(sb: Sandbox) {
    const j = journalOf(deps);
    const hosts = [];
    for (const { host } of hostsOf(sb.spec, deps.hostFor)) hosts.push(await teardownOnHost(host, sb, j));
    return resultOf(j, { hosts });
  },

  /** One JSON line per drill in the worker's drill history (once per run, also when retried). */
  async recordDrill(result: DrillResult): Promise<{ file: string; appended: boolean }> {
    const file = drillHistoryFile(deps);
    await mkdir(dirname(file), { recursive: true });
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    if (text.includes(`"runId":${JSON.stringify(result.runId)}`)) return { file, appended: false };
    await appendFile(file, JSON.stringify(asRecorded(result)) + '\n');
    return { file, appended: true };
  },
});
