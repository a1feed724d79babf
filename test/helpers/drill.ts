// For drill tests: what of a production lab must stay the same, a load that proves it keeps
// serving, and what a sandbox may leave behind on this machine.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { withDb } from '../../lib/db.js';
import { DEFAULT_SANDBOX_ROOT, DRILL_MARKER } from '../../lib/model/drill.js';
import { within } from '../../lib/model/paths.js';
import { nodesOf, primaryOf, type ClusterSpec } from '../../lib/model/spec.js';
import { labPaths, labStatus, type Lab } from '../../lab/lab.js';
import { exists, killPostgresIn, linkTarget, mountPoints, postgresIn, sh } from '../../lab/system.js';

/** The lab's files (not the data on its disks), their hashes, its kernel state, its processes, its nodes. */
export async function productionState(lab: Lab) {
  const p = labPaths(lab.id);
  const files: Record<string, string> = {};
  const dataDirs = new Set(nodesOf(lab.spec, 'replica').map((n) => `${n.localDir}/data`));
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, e.name);
      if (path === join(p.root, 'mnt') || dataDirs.has(path)) {
        files[path] = 'dir (contents change with the data)';
        continue;
      }
      if (e.isDirectory()) {
        files[path] = 'dir';
        await walk(path);
      } else if (e.isFile() && !e.name.endsWith('.log') && !path.startsWith(p.imagesDir)) {
        files[path] = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
      } else files[path] = e.isFile() ? `file ${path.startsWith(p.imagesDir) ? (await stat(path)).size : ''}` : 'other';
    }
  };
  await walk(p.root);
  const s = await labStatus(lab);
  return {
    files,
    disks: s.disks.map((d) => ({ ...d, imageBytes: d.imageBytes?.size })),
    nodes: s.nodes,
    processes: [...s.processes].sort((a, b) => a - b),
    replication: s.replication.map((r) => [r.applicationName, r.state]),
    slots: s.slots.map((x) => [x.name, x.active]),
    mounts: (await mountPoints()).filter((m) => within(p.root, m)),
  };
}

export interface LoadResult {
  writes: number[];
  latenciesMs: number[];
  errors: string[];
}

/**
 * Writes a row on the production primary every ~200 ms and checks that every replica and standby
 * streams, until stopped.
 */
export function productionLoad(spec: ClusterSpec, firstId: number): { stop(): Promise<LoadResult> } {
  let stopping = false;
  const out: LoadResult = { writes: [], latenciesMs: [], errors: [] };
  const want = spec.nodes.flatMap((n) => (n.slot ? [n.slot] : [])).sort();
  const loop = (async () => {
    for (let id = firstId; !stopping; id++) {
      const t = Date.now();
      try {
        await withDb(
          spec,
          primaryOf(spec),
          async (db) => {
            await db.query('insert into t1 values ($1)', [id]);
            out.writes.push(id);
            out.latenciesMs.push(Date.now() - t);
            const r = await db.query<{ application_name: string }>(
              `select application_name from pg_stat_replication where state = 'streaming' order by 1`,
            );
            const streaming = r.rows.map((x) => x.application_name);
            const missing = want.filter((w) => !streaming.includes(w));
            if (missing.length) out.errors.push(`${new Date().toISOString()}: not streaming: ${missing.join(', ')}`);
          },
          10_000,
        );
      } catch (err) {
        out.errors.push(`${new Date().toISOString()}: write ${id}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return out;
    },
  };
}

/** Loop devices bound to files below `dir`. */
export async function loopsBelow(dir: string): Promise<string[]> {
  const out = await sh(['losetup', '-l', '-n', '--raw', '-O', 'NAME,BACK-FILE']);
  return out
    .split('\n')
    .filter((l) => {
      const back = l
        .split(' ')
        .slice(1)
        .join(' ')
        .replace(/ \(deleted\)$/, '');
      return back && within(dir, back);
    })
    .map((l) => l.split(' ')[0]!);
}

/** /dev links named like a sandbox disk of the lab (<lab>-<disk>_d<6 hex>). */
export async function sandboxLinks(labId: string): Promise<string[]> {
  const re = new RegExp(`^${labId}-[a-z]+_d[0-9a-f]{6}$`);
  return (await readdir('/dev')).filter((n) => re.test(n)).map((n) => `/dev/${n}`);
}

/** Everything a lab's drill sandboxes may have left (a failed test): processes, mounts, loops, links, dirs. */
export async function sandboxLeftovers(labId: string, root = DEFAULT_SANDBOX_ROOT) {
  const dirs = (await readdir(root).catch(() => [] as string[])).filter((n) => n.startsWith(`${labId}-`)).map((n) => join(root, n));
  const below = (path: string) => dirs.some((d) => within(d, path));
  return {
    dirs,
    processes: await postgresIn(below),
    mounts: (await mountPoints()).filter(below),
    loops: (await Promise.all(dirs.map(loopsBelow))).flat(),
    links: await sandboxLinks(labId),
  };
}

/** Removes what sandboxLeftovers finds: only dirs with the drill marker, only links to loop devices. */
export async function removeSandboxLeftovers(labId: string, root = DEFAULT_SANDBOX_ROOT): Promise<void> {
  const left = await sandboxLeftovers(labId, root);
  const dirs: string[] = [];
  for (const d of left.dirs) if (await exists(join(d, DRILL_MARKER))) dirs.push(d);
  const below = (path: string) => dirs.some((d) => within(d, path));
  await killPostgresIn(below);
  for (const m of (await mountPoints()).filter(below).sort((a, b) => b.length - a.length)) await sh(['umount', '--', m]);
  for (const d of dirs) for (const l of await loopsBelow(d)) await sh(['losetup', '-d', l]);
  for (const l of left.links) if (/^\/dev\/loop\d+$/.test((await linkTarget(l)) ?? '')) await sh(['rm', '-f', '--', l]);
  for (const d of dirs) await sh(['rm', '-rf', '--one-file-system', '--', d]);
}
