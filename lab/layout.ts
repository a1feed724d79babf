// Where a lab lives and what its parts are called. Everything of a lab is below its root, except
// its loop devices and the two /dev links named after its id: destroy can find all of it from
// the id alone, even when the lab was only half built.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const LAB_ID = /^[a-z0-9][a-z0-9_-]{0,40}$/;
/** The spec's own rule for paths: the lab's paths end up in a ClusterSpec. */
const PLAIN_PATH = /^\/[A-Za-z0-9_.+@:=,/-]*$/;

export function labsRoot(): string {
  const given = process.env.POLAR_LAB_ROOT ?? '/var/lib/polar-runbook/labs';
  const root = given.replace(/\/+$/, '');
  if (!PLAIN_PATH.test(root) || root.split('/').includes('..'))
    throw new Error(`POLAR_LAB_ROOT=${given} must be an absolute path other than /, of letters, digits and _ . + @ : = , / - only`);
  return root;
}

export const newLabId = (): string => `prl${randomBytes(3).toString('hex')}`;

export function checkLabId(id: string): string {
  if (!LAB_ID.test(id)) throw new Error(`lab id ${JSON.stringify(id)} must match ${LAB_ID.source}`);
  return id;
}

export type DiskRole = 'shared' | 'standby';
export const DISKS: DiskRole[] = ['shared', 'standby'];

export interface LabPaths {
  root: string;
  imagesDir: string;
  image: Record<DiskRole, string>;
  mountPoint: Record<DiskRole, string>;
  dataDir: Record<DiskRole, string>;
  diskName: Record<DiskRole, string>;
  link: Record<DiskRole, string>;
  hostsDir: string;
  secretsDir: string;
  passwordFile: string;
  specFile: string;
  labFile: string;
  fingerprintFile: string;
}

export function labPaths(id: string): LabPaths {
  const root = join(labsRoot(), checkLabId(id));
  const per = (f: (d: DiskRole) => string) => ({ shared: f('shared'), standby: f('standby') });
  return {
    root,
    imagesDir: join(root, 'images'),
    image: per((d) => join(root, 'images', `${d}.img`)),
    mountPoint: per((d) => join(root, 'mnt', d)),
    dataDir: per((d) => join(root, 'mnt', d, 'pgdata')),
    diskName: per((d) => `${id}-${d}`),
    link: per((d) => `/dev/${id}-${d}`),
    hostsDir: join(root, 'hosts'),
    secretsDir: join(root, 'secrets'),
    passwordFile: join(root, 'secrets', 'password'),
    specFile: join(root, 'spec.yaml'),
    labFile: join(root, 'lab.json'),
    fingerprintFile: join(root, 'fingerprint.json'),
  };
}

/** True when `path` lies strictly below `dir` (a guard before anything destructive). */
export const isBelow = (dir: string, path: string): boolean => path.startsWith(`${dir}/`) && !path.split('/').includes('..');
