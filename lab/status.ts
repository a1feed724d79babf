// labStatus: what of a lab is there right now, as data (for tests) and as text (for people).
import { stat } from 'node:fs/promises';
import { nodesOf, primaryOf, type NodeSpec } from '../lib/model/spec.js';
import { hostFor } from '../lib/hosts/index.js';
import type { CmdResult } from '../lib/hosts/types.js';
import { whoAnswers, withDb, type Presence } from '../lib/db.js';
import { DISKS, isBelow, labPaths, type DiskRole } from './layout.js';
import type { Lab } from './load.js';
import { exists, linkTarget, loopsOf, mountPoints, postgresIn } from './system.js';

export interface DiskStatus {
  disk: DiskRole;
  image: string;
  /** Apparent and allocated size: the images are sparse. */
  imageBytes?: { size: number; allocated: number };
  loops: string[];
  link: string;
  linkTarget?: string;
  mountPoint: string;
  mounted: boolean;
}

export interface NodeStatus {
  name: string;
  role: string;
  port: number;
  localDir: string;
  localDirExists: boolean;
  /** primary / in recovery when this node answers as itself; down or foreign otherwise. */
  answers: 'primary' | 'in recovery' | Exclude<Presence['state'], 'ours'>;
  detail?: string;
}

export interface LabStatus {
  id: string;
  root: string;
  disks: DiskStatus[];
  nodes: NodeStatus[];
  /** PostgreSQL processes running below the lab root. */
  processes: number[];
  replication: { applicationName: string; state: string; sentLsn: string; replayLsn: string | null }[];
  slots: { name: string; active: boolean; restartLsn: string | null }[];
}

/** What a command on the node's host says, or undefined when the host (its container) is gone. */
async function onHost(n: NodeSpec, argv: string[]): Promise<CmdResult | undefined> {
  return hostFor(n)
    .run({ argv, as: 'root', timeoutMs: 30_000 })
    .catch(() => undefined);
}

/** A container lab: the disks' links and mounts are in the containers, seen from the node that uses each. */
async function containerDisks(lab: Lab, disks: DiskStatus[]): Promise<void> {
  const { spec } = lab;
  const users: Record<DiskRole, NodeSpec> = { shared: primaryOf(spec), standby: nodesOf(spec, 'standby')[0]! };
  for (const d of disks) {
    const n = users[d.disk];
    const disk = d.disk === 'shared' ? spec.storage : n.storage!;
    d.link = `${n.name}:/dev/${disk.diskName}`;
    const target = (await onHost(n, ['readlink', '--', `/dev/${disk.diskName}`]))?.stdout.trim();
    if (target) d.linkTarget = target;
    else delete d.linkTarget;
    d.mountPoint = `${n.name}:${disk.mountPoint}`;
    d.mounted = (await onHost(n, ['mountpoint', '-q', disk.mountPoint!]))?.exitCode === 0;
  }
}

export async function labStatus(lab: Lab): Promise<LabStatus> {
  const { spec } = lab;
  const p = labPaths(lab.id);
  const inContainers = spec.nodes.every((n) => n.host.transport === 'docker');
  const mounted = await mountPoints();
  const disks: DiskStatus[] = [];
  for (const d of DISKS) {
    const st = await stat(p.image[d]).catch(() => undefined);
    const target = await linkTarget(p.link[d]);
    disks.push({
      disk: d,
      image: p.image[d],
      ...(st ? { imageBytes: { size: st.size, allocated: st.blocks * 512 } } : {}),
      loops: await loopsOf(p.image[d]),
      link: p.link[d],
      ...(target ? { linkTarget: target } : {}),
      mountPoint: p.mountPoint[d],
      mounted: mounted.includes(p.mountPoint[d]),
    });
  }

  if (inContainers) await containerDisks(lab, disks);

  const nodes: NodeStatus[] = [];
  for (const n of spec.nodes) {
    const who = await whoAnswers(spec, n);
    nodes.push({
      name: n.name,
      role: n.role,
      port: n.port,
      localDir: n.localDir,
      localDirExists: inContainers ? (await onHost(n, ['test', '-d', n.localDir]))?.exitCode === 0 : await exists(n.localDir),
      answers: who.state === 'ours' ? (who.inRecovery ? 'in recovery' : 'primary') : who.state,
      ...(who.state === 'ours' ? {} : { detail: who.detail }),
    });
  }

  const status: LabStatus = {
    id: lab.id,
    root: p.root,
    disks,
    nodes,
    processes: await postgresIn((cwd) => cwd === p.root || isBelow(p.root, cwd)),
    replication: [],
    slots: [],
  };
  const primary = primaryOf(spec);
  if (nodes.find((n) => n.name === primary.name)?.answers === 'primary') {
    await withDb(spec, primary, async (db) => {
      const r = await db.query<{ application_name: string; state: string; sent_lsn: string; replay_lsn: string | null }>(
        'select application_name, state, sent_lsn::text, replay_lsn::text from pg_stat_replication order by application_name',
      );
      status.replication = r.rows.map((x) => ({
        applicationName: x.application_name,
        state: x.state,
        sentLsn: x.sent_lsn,
        replayLsn: x.replay_lsn,
      }));
      const s = await db.query<{ slot_name: string; active: boolean; restart_lsn: string | null }>(
        'select slot_name, active, restart_lsn::text from pg_replication_slots order by slot_name',
      );
      status.slots = s.rows.map((x) => ({ name: x.slot_name, active: x.active, restartLsn: x.restart_lsn }));
    });
  }
  return status;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function formatStatus(s: LabStatus): string {
  const lines = [`lab ${s.id} at ${s.root}`];
  for (const d of s.disks) {
    const img = d.imageBytes ? `${mb(d.imageBytes.size)} (${mb(d.imageBytes.allocated)} allocated)` : 'MISSING';
    lines.push(
      `  disk ${d.disk}: ${d.image} ${img}; loop ${d.loops.join(', ') || '-'}; ${d.link} -> ${d.linkTarget ?? '-'}; ${d.mountPoint} ${d.mounted ? 'mounted' : 'not mounted'}`,
    );
  }
  for (const n of s.nodes)
    lines.push(
      `  node ${n.name} (${n.role}) :${n.port} ${n.answers}${n.detail ? ` [${n.detail}]` : ''}; local dir ${n.localDirExists ? 'present' : 'GONE'} ${n.localDir}`,
    );
  lines.push(`  postgres processes: ${s.processes.length}`);
  for (const r of s.replication)
    lines.push(`  replication ${r.applicationName}: ${r.state} sent ${r.sentLsn} replayed ${r.replayLsn ?? '-'}`);
  for (const sl of s.slots) lines.push(`  slot ${sl.name}: ${sl.active ? 'active' : 'inactive'} restart_lsn ${sl.restartLsn ?? '-'}`);
  return lines.join('\n');
}
