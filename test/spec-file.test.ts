// Spec files are small regular files: a device, a FIFO or a huge file is refused before it is read.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { MAX_SPEC_BYTES, readSpecFile } from '../lib/spec-file.js';
import { SpecError } from '../lib/model/spec.js';

const tmp = mkdtempSync(join(tmpdir(), 'spec-file-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const refused = (path: string, why: RegExp) => {
  const t0 = Date.now();
  assert.throws(
    () => readSpecFile(path),
    (e: unknown) => e instanceof SpecError && why.test(e.message),
  );
  return Date.now() - t0;
};

test('/dev/zero is refused in under a second, not read', () => {
  const ms = refused('/dev/zero', /not a regular file/);
  assert.ok(ms < 1000, `${ms} ms`);
});

test('a FIFO is refused without opening it (it would hang)', async () => {
  const fifo = join(tmp, 'spec.fifo');
  await execa('mkfifo', [fifo]);
  refused(fifo, /not a regular file/);
});

test('a file over 1 MiB is refused', () => {
  const big = join(tmp, 'big.yaml');
  writeFileSync(big, '');
  truncateSync(big, MAX_SPEC_BYTES + 1);
  refused(big, /at most 1048576 bytes/);
});

test('the CLI says so and exits 1', async () => {
  const r = await execa(process.execPath, ['--import', 'tsx', 'client/cli.ts', 'plan', '/dev/zero'], { reject: false });
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /\/dev\/zero: not a regular file/);
});
