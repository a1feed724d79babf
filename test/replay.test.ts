// Determinism guard: every history in test/histories (recorded from real runs by
// scripts/record-histories.ts) replays against the current workflow code. A change to a workflow
// that would break the recoveries already running (a step moved, added or removed without a
// patch) fails here, before it reaches a worker that has to resume one. The second test proves
// the guard bites: the same histories against a copy of the workflows with one extra step fail.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { workflowsPath } from '../workers/create-worker.js';

Runtime.install({ logger: new DefaultLogger('ERROR') }); // the guard's own replays fail on purpose: no warnings for those

const repo = fileURLToPath(new URL('../', import.meta.url));
const dir = join(repo, 'test/histories');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
// The files are JSON.stringify(await handle.fetchHistory()): protobufjs' JSON form of the message,
// which History.fromObject reads back exactly. (historyFromJSON from @temporalio/common expects the
// proto3 JSON of `temporal workflow show`, and in this install it cannot work at all: @temporalio/
// common and @temporalio/proto each carry their own protobufjs, and its fromJson rejects the other
// copy's types with "type must be a Type".)
const histories = files.map((f) => {
  const json = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { workflowId?: string };
  const history = proto.temporal.api.history.v1.History.fromObject(json);
  return { file: f, workflowId: json.workflowId ?? workflowIdOf(history), history };
});

/**
 * Histories do not hold their workflow id, and recoverCluster checks its own (recover/<cluster>):
 * a file without one (as test/recover-e2e.test.ts writes with RECORD_HISTORIES) gets it from the
 * cluster named in its input.
 */
function workflowIdOf(history: proto.temporal.api.history.v1.IHistory): string {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const input = defaultPayloadConverter.fromPayload(started?.input?.payloads?.[0] as Payload) as
    { spec?: { cluster?: string } } | undefined;
  return started?.workflowType?.name === 'recoverCluster' && input?.spec?.cluster ? `recover/${input.spec.cluster}` : 'replayed';
}

async function replay(path: string): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const r of Worker.runReplayHistories({ workflowsPath: path }, histories)) results.push(r);
  return results;
}

const scratch: string[] = [];
after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('every recorded history replays on the current workflows without non-determinism', { timeout: 120_000 }, async (t) => {
  assert.ok(files.length >= 4, `recorded histories in ${dir} (run scripts/record-histories.ts): ${files.join(', ')}`);
  for (const h of histories) assert.ok(h.history.events?.length, `${h.file}: events`);
  const results = await replay(workflowsPath);
  assert.equal(results.length, histories.length, 'every history was replayed');
  for (const [i, r] of results.entries()) t.diagnostic(`${files[i]}: ${r.error ? `FAILED ${r.error.message}` : 'replays'}`);
  assert.deepEqual(
    results.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error!.name}: ${r.error!.message}`),
    [],
  );
});

test('the guard bites: a workflow with one more step than its histories fails the replay', { timeout: 120_000 }, async (t) => {
  // A copy of the workflow code (and the common code it imports), one activity call added before
  // the fence step; node_modules linked so the bundler finds @temporalio/workflow and zod.
  const copy = mkdtempSync(join(tmpdir(), 'replay-guard-'));
  scratch.push(copy);
  cpSync(join(repo, 'workflows'), join(copy, 'workflows'), { recursive: true });
  cpSync(join(repo, 'lib/model'), join(copy, 'lib/model'), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
  writeFileSync(join(copy, 'package.json'), '{"type": "module"}\n');
  const file = join(copy, 'workflows/recover-cluster.ts');
  const source = readFileSync(file, 'utf8');
  const anchor = "rec.phase('fence');";
  assert.ok(source.includes(anchor), `the workflow still has ${anchor} (update this test if the fence step moved)`);
  writeFileSync(file, source.replace(anchor, `await quick.validateSlots(spec, false);\n  ${anchor}`));

  const results = await replay(join(copy, 'workflows/index.ts'));
  for (const [i, r] of results.entries())
    t.diagnostic(`${files[i]}: ${r.error ? `${r.error.name}: ${r.error.message.split('\n')[0]}` : 'replays'}`);
  // Only the recoveries' histories reach the changed recover-cluster.ts (the failover's do not run it).
  const reached = results.filter(
    (_, i) => /^v[0-9a-z]+-recover-/.test(files[i]!) && !files[i]!.includes('aborted-at-gate') && !files[i]!.endsWith('-pb2.json'),
  );
  assert.ok(reached.length >= 3);
  for (const r of reached) assert.equal(r.error?.name, 'DeterminismViolationError', `${r.workflowId} fails on the changed workflow`);
});
