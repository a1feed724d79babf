// The benchmark's labs: unique ids (bn<6 hex of this run>-<n>), registered before they are built
// so that a Ctrl-C or a failure half-way through still destroys them, and only them.
import { randomBytes } from 'node:crypto';
import { createLab, destroyLab, disaster, type CreateOptions, type Lab } from '../lab/lab.js';

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
  return { ...lab, createMs };
}

/** The disaster again on a lab a recovery brought back (reuses a big lab instead of building it again). */
export async function wreckAgain(lab: Lab): Promise<void> {
  await disaster(lab);
}

export async function dropLab(lab: Lab | string): Promise<void> {
  const id = typeof lab === 'string' ? lab : lab.id;
  await destroyLab(id);
  live.delete(id);
}

/** Destroys every lab this run created and still holds; returns the problems, if any. */
export async function dropAllLabs(log: (l: string) => void): Promise<string[]> {
  const problems: string[] = [];
  for (const id of [...live]) {
    try {
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
