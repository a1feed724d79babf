// Determinism guard: every history in test/histories (recorded from real runs by
// scripts/record-histories.ts) replays against the current workflow code. A change to a workflow
// that would break the recoveries already running (a step moved, added or removed without a
// patch) fails here, before it reaches a worker that has to resume one; so does an activity
// scheduled with other arguments or another summary than recorded. The second test proves the
// guard bites: the same histories against a copy of the workflows with one extra step fail.
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

async function replay(path: string, workflowModules: string[] = []): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const r of Worker.runReplayHistories({ workflowsPath: path, interceptors: { workflowModules } }, histories)) results.push(r);
  return results;
}

const scratch: string[] = [];
after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * The replay itself matches an activity by its type and sequence number only: two steps of one
 * type swapped (attachStorage pb1 and pb3) would still replay. This interceptor (a module the
 * replay bundles) compares every scheduled activity with the recorded one: type, arguments,
 * summary. A spec argument counts as its cluster name (the spec's defaults grew since the older
 * histories were recorded).
 */
function strictInterceptor(): string {
  const expected: Record<string, Record<number, string>> = {};
  const decode = (p: unknown) => defaultPayloadConverter.fromPayload(p as Payload);
  // Notifications' words changed since; what they announce (kind) is compared.
  const noSpec = (a: unknown) =>
    (a as { nodes?: unknown })?.nodes
      ? `spec ${(a as { cluster: string }).cluster}`
      : (a as { text?: unknown })?.text
        ? `notify ${(a as { kind: string }).kind}`
        : a;
  for (const h of histories) {
    const started = h.history.events![0]!.workflowExecutionStartedEventAttributes!;
    const byRun: Record<number, string> = (expected[started.originalExecutionRunId!] = {}); // the run id the replay runs under
    for (const e of h.history.events!) {
      const a = e.activityTaskScheduledEventAttributes;
      if (!a) continue;
      const args = (a.input?.payloads ?? []).map(decode);
      const summary = e.userMetadata?.summary ? decode(e.userMetadata.summary) : undefined;
      // Histories from before summaries were given (v1) are compared without them.
      byRun[Number(a.activityId)] = JSON.stringify([a.activityType!.name, args.map(noSpec), summary ?? '-']);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'replay-strict-'));
  scratch.push(dir);
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  writeFileSync(
    join(dir, 'strict.ts'),
    `import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
const expected: Record<string, Record<number, string>> = ${JSON.stringify(expected)};
const noSpec = ${noSpec.toString()};
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        const want = expected[workflowInfo().runId]?.[input.seq];
        const summary = want?.endsWith(',"-"]') ? '-' : (input.options.summary ?? '-');
        const got = JSON.stringify([input.activityType, input.args.map(noSpec), summary]);
        if (want !== undefined && want !== got) throw new Error(\`activity \${input.seq}: recorded \${want}, scheduled \${got}\`);
        return next(input);
      },
    },
  ],
});
`,
  );
  return join(dir, 'strict.ts');
}

test(
  'every recorded history replays on the current workflows, every activity with its arguments and summary',
  { timeout: 120_000 },
  async (t) => {
    assert.ok(files.length >= 4, `recorded histories in ${dir} (run scripts/record-histories.ts): ${files.join(', ')}`);
    for (const h of histories) assert.ok(h.history.events?.length, `${h.file}: events`);
    const results = await replay(workflowsPath, [strictInterceptor()]);
    assert.equal(results.length, histories.length, 'every history was replayed');
    for (const [i, r] of results.entries()) t.diagnostic(`${files[i]}: ${r.error ? `FAILED ${r.error.message}` : 'replays'}`);
    assert.deepEqual(
      results.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error!.name}: ${r.error!.message}`),
      [],
    );
  },
);

test('the guard bites: a workflow with one more step than its histories fails the replay', { timeout: 120_000 }, async (t) => {
  // A copy of the workflow code (and the model code it imports), one activity call added before
  // the recovery's steps (old and declared alike); node_modules linked so the bundler finds
  // @temporalio/workflow and zod.
  const copy = mkdtempSync(join(tmpdir(), 'replay-guard-'));
  scratch.push(copy);
  cpSync(join(repo, 'workflows'), join(copy, 'workflows'), { recursive: true });
  cpSync(join(repo, 'lib/model'), join(copy, 'lib/model'), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
  writeFileSync(join(copy, 'package.json'), '{"type": "module"}\n');
  const file = join(copy, 'workflows/recover-cluster.ts');
  const source = readFileSync(file, 'utf8');
  const [imports, anchor] = ["import { activityOf } from './options.js';", "if (!patched('step-model'))"];
  for (const a of [imports, anchor]) assert.ok(source.includes(a), `the workflow still has ${a} (update this test if it moved)`);
  writeFileSync(
    file,
    source
      .replace(imports, "import { activityOf, quick } from './options.js';")
      .replace(anchor, `await quick.validateSlots(spec, false);\n  ${anchor}`),
  );

  const results = await replay(join(copy, 'workflows/index.ts'));
  for (const [i, r] of results.entries())
    t.diagnostic(`${files[i]}: ${r.error ? `${r.error.name}: ${r.error.message.split('\n')[0]}` : 'replays'}`);
  // Only the recoveries' histories reach the changed recover-cluster.ts (the failover's do not run it;
  // those aborted at the start gate end before it).
  const reached = results.filter(
    (_, i) => /^v[0-9a-z]+-recover-/.test(files[i]!) && !files[i]!.includes('aborted-at-gate') && !files[i]!.endsWith('-pb2.json'),
  );
  assert.ok(reached.length >= 3);
  for (const r of reached) assert.equal(r.error?.name, 'DeterminismViolationError', `${r.workflowId} fails on the changed workflow`);
});
