// The layers, as eslint.config.js enforces them: imports only go down, lib/model <- lib <-
// activities <- workflows <- workers, client, lab, bench, scripts. A file placed in a layer with an
// upward import is refused; the real tree is clean.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const repo = fileURLToPath(new URL('../', import.meta.url));
const eslint = new ESLint({ cwd: repo });
const RULE = '@typescript-eslint/no-restricted-imports';

/** The layer rule's messages for `code` as if it were the file `path`. */
async function refusals(path: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(repo, path) });
  return r!.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

const refused: [string, string][] = [
  ['lib/upward.ts', "import { heartbeat } from '../activities/heartbeat.js';"],
  ['lib/hosts/upward.ts', "import { createWorker } from '../../workers/create-worker.js';"],
  ['lib/upward.ts', "import { Context } from '@temporalio/activity';"],
  ['lib/upward.ts', "import { proxyActivities } from '@temporalio/workflow';"],
  ['lib/model/upward.ts', "import { readFileSync } from 'node:fs';"],
  ['lib/model/upward.ts', "import { Journal } from '../ops.js';"],
  ['activities/upward.ts', "import { recoverCluster } from '../workflows/index.js';"],
  ['activities/upward.ts', "import { notify } from '../client/notify.js';"],
  ['workflows/upward.ts', "import { createActivities } from '../activities/index.js';"],
  ['workflows/upward.ts', "import { withDb } from '../lib/db.js';"],
  ['workflows/upward.ts', "import { spawn } from 'node:child_process';"],
];

for (const [path, code] of refused)
  test(`lint refuses in ${path}: ${code}`, async () => {
    const messages = await refusals(path, code);
    assert.equal(messages.length, 1, `one refusal, got: ${messages.join('; ') || 'none'}`);
  });

const allowed: [string, string][] = [
  ['lib/down.ts', "import { parseSpec } from './model/spec.js';"],
  ['lib/hosts/down.ts', "import type { NodeSpec } from '../model/spec.js';"],
  ['lib/model/down.ts', "import { z } from 'zod';"],
  ['activities/down.ts', "import { Context } from '@temporalio/activity';\nimport { Journal } from '../lib/ops.js';"],
  ['workflows/down.ts', "import type { Activities } from '../activities/index.js';\nimport type { Fingerprint } from '../lib/db.js';"],
  ['workflows/down.ts', "import { parseSpec } from '../lib/model/spec.js';"],
];

for (const [path, code] of allowed)
  test(`lint allows in ${path}: ${code.split('\n').join(' ')}`, async () => {
    assert.deepEqual(await refusals(path, code), []);
  });

test('the layered folders of the real tree lint clean', { timeout: 60_000 }, async () => {
  const results = await eslint.lintFiles(['lib', 'activities', 'workflows']);
  assert.ok(results.length > 40, `linted ${results.length} files`);
  const errors = results.flatMap((r) => r.messages.filter((m) => m.severity === 2).map((m) => `${r.filePath}:${m.line} ${m.message}`));
  assert.deepEqual(errors, []);
});
