// A lab as the other modules see it, found again from its files: lab.json is written last by
// create, so a lab without it was never finished (destroy still works from the id alone).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterSpec } from '../lib/model/spec.js';
import { readSpecFile } from '../lib/spec-file.js';
import { labPaths, labsRoot } from './layout.js';
import { exists } from './system.js';

export interface Lab {
  id: string;
  root: string;
  spec: ClusterSpec;
  specFile: string;
}

/** lab.json: what create chose, for people and scripts (the spec is the source of truth). */
export interface LabFile {
  id: string;
  createdAt: string;
  createSeconds: number;
  rows: number;
  dataMb?: number;
  imageSizeGb: number;
  /** Where the nodes live: this machine, or one container each (lab/containers). */
  hosts?: 'local' | 'containers';
  ports: Record<string, number>;
  addresses?: Record<string, string>;
  images: Record<string, string>;
  links: Record<string, string>;
  specFile: string;
}

/** Written first into a new lab root: destroy removes only dirs that carry it. */
export const LAB_MARKER = '.polar-lab';

export async function loadLab(id: string): Promise<Lab> {
  const p = labPaths(id);
  if (!(await exists(p.root))) throw new Error(`no lab ${id} under ${labsRoot()}`);
  if (!(await exists(p.labFile))) throw new Error(`lab ${id} at ${p.root} was never finished (no lab.json): destroy it`);
  // A container lab's nodes are reached through its engine: this process's docker client must find it.
  const containers = join(p.root, 'containers.json');
  if ((await exists(containers)) && process.env.DOCKER_HOST === undefined) {
    const { engineRoot } = JSON.parse(await readFile(containers, 'utf8')) as { engineRoot: string };
    process.env.DOCKER_HOST = `unix://${engineRoot}/docker.sock`;
  }
  return { id, root: p.root, spec: readSpecFile(p.specFile), specFile: p.specFile };
}

export async function readLabFile(id: string): Promise<LabFile> {
  return JSON.parse(await readFile(labPaths(id).labFile, 'utf8')) as LabFile;
}

/** Ids of the labs under the labs root (finished or not). */
export async function listLabs(): Promise<string[]> {
  const root = labsRoot();
  const names = await readdir(root).catch(() => []);
  const ids: string[] = [];
  for (const n of names.sort()) if (await exists(join(root, n, LAB_MARKER))) ids.push(n);
  return ids;
}
