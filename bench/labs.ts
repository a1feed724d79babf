// The benchmark's labs: unique ids (bn<6 hex of this run>-<n>), registered before they are built
// so that a Ctrl-C or a failure half-way through still destroys them, and only them.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createLab, destroyLab, disaster, labPaths, type CreateOptions, type Lab } from '../lab/lab.js';
import { sh } from '../lab/system.js';

export const runTag = `bn${randomBytes(3).toString('hex')}`;
let seq = 0;
const live = new Set<string>();

export interface BenchLab extends Lab {
  createMs: number;
}

/** A new lab, wrecked by the disaster (neither is timed by the benchmark). */
export async function freshWreckedLab(o: Omit<CreateOptions, 'id' | 'log'>): Promise<BenchLab> {
  const id = `${runTag}-${++seq}`;
  live.add(id);
  const t0 = Date.now();
  const lab = await createLab({ ...o, id });
  const createMs = Date.now() - t0;
  await disaster(lab);
  await settle();
  return { ...lab, createMs };
}

/**
 * Building a lab leaves hundreds of MB (GBs for the 1 GB lab) of dirty page cache; its writeback
 * would land inside the timed recovery (the primary's crash-recovery fsyncs wait behind it: 4 s
 * instead of 0.5 s for the 1 GB lab's first recovery). Flushed here, untimed.
 */
async function settle(): Promise<void> {
  await sh(['sync'], 10 * 60_000);
}

/** The disaster again on a lab a recovery brought back (reuses a big lab instead of building it again). */
export async function wreckAgain(lab: Lab): Promise<void> {
  await disaster(lab);
  await settle();
}

export async function dropLab(lab: Lab | string): Promise<void> {
  const id = typeof lab === 'string' ? lab : lab.id;
  await killOrphanClones(id);
  await destroyLab(id);
  live.delete(id);
}

/**
 * A worker SIGKILLed during a replica clone leaves its pg_basebackup running (its cwd is the
 * worker's, so destroyLab, which kills the PostgreSQL processes below the lab root, does not see
 * it). Only pg_basebackup processes writing below this lab's root are killed, by PID.
 */
async function killOrphanClones(id: string): Promise<void> {
  const root = `${labPaths(id).root}/`;
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const argv = (await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!argv[0]?.endsWith('/pg_basebackup') || !argv.some((a) => a.startsWith(root))) continue;
    try {
      process.kill(Number(e), 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}

/** Destroys every lab this run created and still holds; returns the problems, if any. */
export async function dropAllLabs(log: (l: string) => void): Promise<string[]> {
  const problems: string[] = [];
  for (const id of [...live]) {
    try {
      await killOrphanClones(id);
      await destroyLab(id);
      live.delete(id);
      log(`destroyed lab ${id}`);
    } catch (err) {
      problems.push(`lab ${id}: ${(err as Error).message}`);
    }
  }
  return problems;
}

export const liveLabs = (): string[] => [...live];
