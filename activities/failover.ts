// The failover's own activities (workflows/failover.ts): no other runbook acts on the cluster;
// the old nodes and the old shared disk proven out of use; the standby's position recorded (the
// data-loss window); the promotion, once; the data and the streams verified; the new topology's
// spec written where an operator can register it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';
import YAML from 'yaml';
import { failoverStandby, oldNodes } from '../lib/model/failover.js';
import { failoverWorkflowId, recoveryWorkflowId } from '../lib/model/input.js';
import type {
  Detailed,
  FailoverFenceDetails,
  PositionDetails,
  PromoteDetails,
  SpecFileDetails,
  StandbyPosition,
  StepResult,
  VerifyDetails,
} from '../lib/model/report.js';
import { primaryOf, sharedNodes, type ClusterSpec, type NodeSpec } from '../lib/model/spec.js';
import { runningRunbook } from './running.js';
import { journalOf, resultOf, type ActivityDeps } from './context.js';
import { fingerprint, whoAnswers, withDb, type Fingerprint } from '../lib/db.js';
import { failure } from '../lib/failures.js';
import { runAgent } from '../lib/fencing.js';
import { heartbeat, sleep } from './heartbeat.js';
import type { Host } from '../lib/hosts/types.js';
import { renderCmd } from '../lib/hosts/types.js';
import { runOps, type Journal } from '../lib/ops.js';
import { processesInDir, promoteOp } from '../lib/profiles/common.js';
import { profileOf } from '../lib/profiles/index.js';
import * as S from '../lib/profiles/storage.js';
import { STANDBY_POSITION_SQL, STREAMING_SQL, TABLES_SQL, TIMELINE_SQL, withParam } from '../lib/sql.js';
import { createVerifyActivities } from './verify.js';

export const DEFAULT_FAILOVER_DIR = '/var/lib/polar-runbook/failovers';

/** `16/B374D848` as a number of bytes. */
export const lsnBytes = (lsn: string): bigint => {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
};

/** A probe that proves something by exiting 0; the journal keeps what was looked at. */
async function holds(host: Host, argv: string[], j: Journal): Promise<boolean> {
  const cmd = { argv, as: 'root' as const, timeoutMs: 30_000 };
  const r = await host.run(cmd);
  j.skipped.push(`${host.name}: looked: ${renderCmd(cmd)} -> exit ${r.exitCode}`);
  return r.exitCode === 0;
}

/** Nothing of the old shared disk is in use on one old host: no storage daemon, no mount, not attached. */
async function diskOutOfUse(spec: ClusterSpec, node: NodeSpec, host: Host, j: Journal): Promise<{ proven: string[]; unproven: string[] }> {
  const proven: string[] = [];
  const unproven: string[] = [];
  const disk = spec.storage;
  const inUse = profileOf(spec).storageInUse(disk);
  if (inUse) {
    if (await holds(host, inUse.probe.argv, j)) unproven.push(`${node.name}: ${inUse.inUse}`);
    else proven.push(`${node.name}: ${inUse.free}`);
  }
  if (disk.image) {
    if (!(await holds(host, ['test', '-e', disk.image], j))) proven.push(`${node.name}: the old image ${disk.image} is gone from its host`);
    else {
      const r = await host.run(S.findBoundLoop(disk.image));
      const bound = r.exitCode === 0 ? S.parseBoundLoop(r.stdout) : undefined;
      if (r.exitCode !== 0) unproven.push(`${node.name}: cannot tell whether ${disk.image} is attached (losetup -j exit ${r.exitCode})`);
      else if (bound) unproven.push(`${node.name}: the old image ${disk.image} is still attached to ${bound}`);
      else proven.push(`${node.name}: the old image ${disk.image} is not attached`);
    }
  } else {
    proven.push(
      `${node.name}: ${disk.device} is a block device (a LUN stays visible): its use is judged by the storage daemon and mounts above`,
    );
  }
  return { proven, unproven };
}

export const createFailoverActivities = (deps: ActivityDeps) => ({
  /**
   * A failover never acts beside a running recovery of its cluster, nor beside another failover of
   * it started under another id (the one with the cluster's own id is unique by Temporal's rule).
   * `runbook: 'recovery'`: the recovery's own check, that no failover of its cluster is running.
   */
  async checkRunbooks(
    cluster: string,
    self: { workflowId: string; runId: string },
    runbook: 'failover' | 'recovery' = 'failover',
  ): Promise<StepResult> {
    const j = journalOf(deps);
    // A recovery never acts beside a failover of its cluster, nor a failover beside a recovery.
    const other = await runningRunbook(runbook === 'recovery' ? failoverWorkflowId(cluster) : recoveryWorkflowId(cluster), j);
    if (other)
      throw failure(
        'RunbookConflict',
        `the ${runbook === 'recovery' ? 'failover' : 'recovery'} ${other.id} (run ${other.runId}) is running since ${other.since}: a ${runbook} must not act beside it; wait for it to end, or abort it first`,
      );
    if (runbook === 'recovery') return resultOf(j);
    const client = Context.current().client;
    const query = `WorkflowType = 'failoverToStandby' AND ExecutionStatus = 'Running' AND ClusterName = '${cluster}'`;
    for await (const w of client.workflow.list({ query }))
      if (w.runId !== self.runId && w.workflowId !== failoverWorkflowId(cluster))
        throw failure('RunbookConflict', `the failover ${w.workflowId} (run ${w.runId}) of ${cluster} is running`);
    j.verified.push(`no other failover of ${cluster} is running`);
    return resultOf(j);
  },

  /**
   * Before a standby is promoted, every old node must be proven off and the old shared disk out of
   * use on their hosts: nothing answers and no postmaster runs in its directory, no storage daemon
   * or mount of the old disk, the image not attached; or the fencing agent confirms the node is
   * off. `after`: the new topology, so that on a second run its nodes on old addresses are known.
   */
  async fenceForFailover(spec: ClusterSpec, after: ClusterSpec): Promise<Detailed<FailoverFenceDetails>> {
    const j = journalOf(deps);
    const proven: string[] = [];
    const unproven: string[] = [];
    const onShared = new Set(sharedNodes(spec).map((n) => n.name));
    for (const node of oldNodes(spec)) {
      const dir = profileOf(spec).postmasterDir(spec, node);
      if (spec.fencing.agent) {
        const said = await runAgent(spec, node, dir, j);
        proven.push(`${node.name}: the fencing agent confirmed it is off${said ? ` (${said})` : ''}`);
        j.changed = true;
        continue;
      }
      const p = await whoAnswers(spec, node);
      if (p.state === 'down') proven.push(`${node.name}: nothing answers on ${node.address}:${node.port} (${p.detail})`);
      else {
        const twin = after.nodes.find((n) => n.address === node.address && n.port === node.port);
        const t = twin ? await whoAnswers(after, twin) : undefined;
        if (twin && t?.state === 'ours' && t.inRecovery)
          proven.push(`${node.name}: ${node.address}:${node.port} now serves ${twin.name}, a read-only node of the new topology`);
        else if (p.state === 'ours')
          unproven.push(
            `${node.name}: still answers on ${node.address}:${node.port} as this cluster's ${p.inRecovery ? 'read-only node' : 'READ-WRITE PRIMARY'}`,
          );
        else unproven.push(`${node.name}: ${p.detail}`);
      }
      const host = deps.hostFor(node);
      try {
        const r = await host.run(processesInDir(dir));
        const pids = r.stdout.split('\n').filter(Boolean);
        if (r.exitCode !== 0) unproven.push(`${node.name}: cannot look for a postmaster in ${dir} (exit ${r.exitCode})`);
        else if (pids.length) unproven.push(`${node.name}: postgres processes ${pids.join(', ')} run in ${dir}`);
        else proven.push(`${node.name}: no postgres process runs in ${dir}`);
        if (onShared.has(node.name)) {
          const d = await diskOutOfUse(spec, node, host, j);
          proven.push(...d.proven);
          unproven.push(...d.unproven);
        }
      } catch (err) {
        unproven.push(`${node.name}: cannot look at its host (${(err as Error).message})`);
      }
    }
    j.verified.push(...proven);
    return resultOf(j, { proven: unproven.length === 0, evidence: [...unproven, ...proven] });
  },

  /**
   * The standby's position before it is promoted: received and replayed LSN, the commit time of its
   * last replayed transaction, the old primary's last LSN where it can still be read, the lag; and
   * the fingerprint of the verified tables (what must be there after the promotion).
   */
  async recordPosition(spec: ClusterSpec): Promise<Detailed<PositionDetails>> {
    const j = journalOf(deps);
    const standby = failoverStandby(spec);
    const tables = spec.verify.tables;
    const read = await withDb(spec, standby, async (db) => {
      const row = (
        await db.query<{
          in_recovery: boolean;
          receive_lsn: string | null;
          replay_lsn: string | null;
          last_xact: Date | null;
          age_s: number | null;
        }>(STANDBY_POSITION_SQL)
      ).rows[0]!;
      j.ran(standby.name, STANDBY_POSITION_SQL);
      const found = (await db.query<{ relname: string }>(TABLES_SQL, [tables])).rows.map((r) => r.relname);
      const missing = tables.filter((t) => !found.includes(t));
      if (missing.length) throw failure('WrongCluster', `the standby ${standby.name} lacks the verified tables ${missing.join(', ')}`);
      return { row, print: await fingerprint(db, tables) };
    }).catch((err: unknown) => {
      if ((err as { type?: string }).type) throw err;
      throw failure(
        'CommandFailed',
        `the standby ${standby.name} cannot be read (${(err as Error).message}): it must serve to be promoted`,
      );
    });
    const { row, print } = read;

    // The old primary's WAL was on the lost storage; its pg_control says at least where it was, when readable.
    const old = primaryOf(spec);
    let oldLsn: string | null = null;
    let source: string;
    const cmd = profileOf(spec).oldPrimaryControl(spec);
    if (cmd) {
      const r = await deps
        .hostFor(old)
        .run(cmd)
        .catch((err: Error) => ({ exitCode: -1, stdout: '', stderr: err.message, timedOut: false }));
      const m = /^Latest checkpoint location:\s+([0-9A-F]+\/[0-9A-F]+)/m.exec(r.stdout);
      if (r.exitCode === 0 && m) {
        oldLsn = m[1]!;
        source = `the latest checkpoint in pg_control of ${spec.storage.dataDir} on ${old.name}, a lower bound`;
      } else
        source = `pg_controldata on ${old.name} could not read ${spec.storage.dataDir} (${(r.stderr || r.stdout).trim().slice(-200) || `exit ${r.exitCode}`})`;
    } else {
      source = `the old primary's WAL and pg_control are on the lost shared disk ${spec.storage.diskName}`;
    }

    const alreadyPromoted = !row.in_recovery;
    const recv = row.receive_lsn ? lsnBytes(row.receive_lsn) : 0n;
    const replay = row.replay_lsn ? lsnBytes(row.replay_lsn) : 0n;
    const known = [recv, oldLsn ? lsnBytes(oldLsn) : 0n].reduce((a, b) => (a > b ? a : b));
    const lagBytes = alreadyPromoted || known <= replay ? 0 : Number(known - replay);
    const position: StandbyPosition = {
      receiveLsn: row.receive_lsn,
      replayLsn: row.replay_lsn,
      lastReplayedXactAt: row.last_xact ? row.last_xact.toISOString() : null,
      oldPrimaryLsn: oldLsn,
      oldPrimaryLsnSource: source,
      lagBytes,
      lagSeconds: lagBytes > 0 && row.age_s !== null ? Math.max(0, Math.round(row.age_s)) : 0,
      recordedAt: new Date().toISOString(),
    };
    if (alreadyPromoted) j.verified.push(`${standby.name} is already read-write (promoted before this step): no position to record`);
    else
      j.verified.push(
        `${standby.name}: received ${position.receiveLsn}, replayed ${position.replayLsn}, last replayed transaction at ${position.lastReplayedXactAt}; ` +
          `old primary: ${oldLsn ?? 'unknown'} (${source}); lag ${lagBytes} bytes, ${position.lagSeconds} s`,
      );
    j.verified.push(
      `fingerprint of ${tables.length} tables taken on ${standby.name}: ${tables.map((t) => `${t} ${print[t]!.rows} rows`).join(', ')}`,
    );
    return resultOf(j, { position, fingerprint: print, alreadyPromoted });
  },

  /**
   * Promotes the standby unless it is read-write already, then waits until it is. Never a second
   * promote: pg_is_in_recovery() first, and a promote still pending is waited for, not repeated.
   */
  async promote(spec: ClusterSpec, limitMs = 60 * 60_000): Promise<Detailed<PromoteDetails>> {
    const j = journalOf(deps);
    const standby = failoverStandby(spec);
    const inRecovery = async (): Promise<boolean | string> => {
      const p = await whoAnswers(spec, standby);
      if (p.state === 'ours') return p.inRecovery;
      if (p.state === 'foreign') throw failure('PortTaken', p.detail);
      return p.detail;
    };
    const first = await inRecovery();
    if (typeof first === 'string')
      throw failure('CommandFailed', `the standby ${standby.name} does not serve (${first}): it must run to be promoted`);
    if (!first) j.verified.push(`${standby.name} is read-write already: not promoted again`);
    else {
      const dataDir = profileOf(spec).postmasterDir(spec, standby);
      await runOps(deps.hostFor(standby), [promoteOp(spec, standby, dataDir)], j);
      j.changed = true;
      const started = Date.now();
      for (;;) {
        const now = await inRecovery().catch((err: unknown) => {
          if ((err as { type?: string }).type) throw err;
          return 'not answering';
        });
        if (now === false) break;
        if (Date.now() - started > limitMs)
          throw failure(
            'CommandFailed',
            `${standby.name} is still in recovery ${limitMs / 1000} s after pg_ctl promote: read its server log`,
          );
        heartbeat({ waiting: 'promotion', sinceMs: Date.now() - started });
        await sleep(200);
      }
      j.verified.push(`${standby.name} left recovery ${((Date.now() - started) / 1000).toFixed(1)} s after pg_ctl promote`);
    }
    const t = await withDb(spec, standby, async (db) => (await db.query<{ walfile: string; lsn: string }>(TIMELINE_SQL)).rows[0]!);
    const timeline = parseInt(t.walfile.slice(0, 8), 16);
    j.verified.push(`${standby.name} is read-write on timeline ${timeline} (WAL file ${t.walfile}, at ${t.lsn})`);
    return resultOf(j, { timeline, lsn: t.lsn });
  },

  /**
   * On the new topology: every row the standby had before the promotion is there (the fingerprint
   * recorded then), each new read-only node streams through its slot, and a probe row written on
   * the new primary shows on each of them.
   */
  async verifyFailover(after: ClusterSpec, probeId: string, before: Fingerprint): Promise<Detailed<VerifyDetails>> {
    const j = journalOf(deps);
    const primary = primaryOf(after);
    await withDb(after, primary, async (db) => {
      const now = await fingerprint(db, Object.keys(before));
      for (const [t, b] of Object.entries(before)) {
        const a = now[t]!;
        if (a.rows === b.rows && a.checksum === b.checksum) continue;
        if (a.rows > b.rows)
          j.warnings.push(
            `${t}: ${a.rows - b.rows} more rows than the standby had before the promotion (written since); not compared row by row`,
          );
        else
          throw failure(
            'WrongCluster',
            `${t} on the promoted ${primary.name} differs from what the standby held before the promotion (rows ${b.rows} -> ${a.rows})`,
          );
      }
      j.verified.push(`every row the standby held before the promotion is on ${primary.name} (${Object.keys(before).length} tables)`);
      for (const r of after.nodes.filter((n) => n.role === 'replica')) {
        const s = (await db.query<{ state: string; application_name: string }>(STREAMING_SQL, [r.slot])).rows.find(
          (x) => x.state === 'streaming',
        );
        if (!s) throw failure('CommandFailed', `${r.name} does not stream from ${primary.name} through slot ${r.slot}`);
        j.verified.push(`${r.name} streams from ${primary.name} through slot ${r.slot} (${withParam(STREAMING_SQL, r.slot!)})`);
      }
    });
    // The fingerprint file describes the old cluster at its disaster: the standby's own print was compared above.
    const probe = await createVerifyActivities(deps).verifyData(
      { ...after, verify: { ...after.verify, fingerprintFile: undefined } },
      probeId,
      false,
    );
    j.commands.push(...probe.commands);
    j.verified.push(...probe.verified);
    j.warnings.push(...(probe.warnings ?? []));
    return resultOf(j, probe.details);
  },

  /** Writes the new topology's spec on the worker, for the operator to register. Same content, same file: idempotent. */
  async writeFailoverSpec(after: ClusterSpec, runId: string): Promise<Detailed<SpecFileDetails>> {
    const j = journalOf(deps);
    const dir = deps.failoverDir ?? process.env.POLAR_FAILOVER_DIR ?? DEFAULT_FAILOVER_DIR;
    const file = join(dir, `${after.cluster}.after-failover.${runId}.yaml`);
    const text =
      `# The cluster ${after.cluster} after its failover (run ${runId}): register this spec so the next\n` +
      `# recovery or drill acts on the cluster that exists.\n` +
      YAML.stringify(after);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    j.ran('worker', `write ${file}`);
    j.changed = true;
    return resultOf(j, { file });
  },
});
