// The container lab's host image: a Debian bookworm root made by build-rootfs.sh (debootstrap from
// Debian's archive), imported into the engine. Its tag is a hash of the build script, which names
// every package: the root tarball is built once per machine and kept beside the lab's engine, and
// each engine (a test's own too) imports it once. A changed script makes a new tag and a new build.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { exists } from '../system.js';
import { docker, type Engine } from './engine.js';

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'build-rootfs.sh');
export const IMAGE_REPO = 'polar-runbook-host';

/** Where built root tarballs are kept (POLAR_IMAGE_CACHE overrides). */
export const imageCacheDir = (): string => (process.env.POLAR_IMAGE_CACHE ?? '/var/lib/polar-runbook/images').replace(/\/+$/, '');

/** polar-runbook-host:<12 hex of the build script's sha256>. */
export async function hostImageTag(): Promise<string> {
  const hash = createHash('sha256')
    .update(await readFile(BUILD_SCRIPT))
    .digest('hex');
  return `${IMAGE_REPO}:${hash.slice(0, 12)}`;
}

/** Builds the root tarball unless it is there already; returns its path. */
export async function hostRootfs(log: (line: string) => void = () => {}): Promise<string> {
  const tag = await hostImageTag();
  const tar = join(imageCacheDir(), `host-${tag.split(':')[1]}.tar`);
  if (await exists(tar)) return tar;
  if (!(await exists('/usr/sbin/debootstrap')))
    throw new Error('debootstrap is not installed: run `npm run setup` (it installs Debian’s debootstrap)');
  await mkdir(imageCacheDir(), { recursive: true });
  log(`building the host image's root (debootstrap bookworm, about a minute): ${tar}`);
  const started = Date.now();
  // The script writes OUT.partial and renames it: a build killed midway leaves no tarball behind.
  const r = await execa('bash', [BUILD_SCRIPT, tar], { reject: false, stdin: 'ignore', timeout: 20 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`building the host image failed: ${(r.stderr || r.stdout || `exit ${r.exitCode}`).trim()}`);
  log(`host root built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return tar;
}

/** The host image in this engine: imported from the tarball (built first if need be) when missing. */
export async function ensureHostImage(engine: Pick<Engine, 'dockerHost'>, log: (line: string) => void = () => {}): Promise<string> {
  const tag = await hostImageTag();
  const have = await docker(engine, ['image', 'inspect', '--format', '{{.Id}}', tag], 30_000).then(
    () => true,
    () => false,
  );
  if (have) return tag;
  const tar = await hostRootfs(log);
  const started = Date.now();
  await docker(
    engine,
    [
      'import',
      ...['--change', 'ENTRYPOINT ["/usr/bin/tini", "--"]', '--change', 'CMD ["sleep", "infinity"]'],
      ...['--change', 'ENV LANG=C.UTF-8'],
      tar,
      tag,
    ],
    10 * 60_000,
  );
  log(`imported ${tag} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return tag;
}
