// Starting a recovery (and a drill) the way the Web UI's Start Workflow form and the Temporal CLI
// do: a workflow type, the task queue, the workflow id and plain JSON input, nothing of ours on
// the client side. The real `temporal workflow start` against a real dev server and a real lab:
// a registered cluster by name, an inline spec from a JSON file, and a drill by name.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import YAML from 'yaml';
import { readSpecDir } from '../lib/spec-file.js';
import type { DrillResult } from '../lib/model/drill.js';
import type { RecoveryReport } from '../lib/model/report.js';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { temporalCliPath } from '../scripts/temporal-cli.js';
import { removeSandboxLeftovers, sandboxLeftovers } from './helpers/drill.js';
import { startTemporal } from './helpers/temporal.js';
import { runWorker, type RunningWorker } from './helpers/worker.js';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'polar-ui-start-'));
  env = await startTemporal();
  lab = await createLab({ replicas: 1 });
  // The clusters dir a worker is started with (POLAR_CLUSTERS_DIR): the lab's spec file, as is.
  writeFileSync(join(dir, `${lab.id}.yaml`), readFileSync(lab.specFile, 'utf8'));
  worker = await runWorker(env, { registered: readSpecDir(dir), drillHistory: join(dir, 'drill-history.jsonl') });
});

after(async () => {
  await worker?.stop();
  if (lab) {
    await removeSandboxLeftovers(lab.id);
    await destroyLab(lab);
  }
  await env?.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the Temporal CLI as an operator would type it (plus the dev server's address). */
async function temporal(t: TestContext, args: string[]): Promise<string> {
  const argv = [...args, '--address', env.address];
  t.diagnostic(`$ temporal ${argv.map((a) => (/^[\w./:@=-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`);
  const r = await execa(temporalCliPath(), argv, { reject: false, timeout: 60_000 });
  assert.equal(r.exitCode, 0, `temporal ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

test('temporal workflow start with a registered cluster name recovers it', async (t) => {
  await disaster(lab);
  const id = `recover/${lab.id}`;
  const out = await temporal(t, [
    ...['workflow', 'start', '--type', 'recoverCluster', '--task-queue', 'polar-runbook'],
    ...['--workflow-id', id, '--input', JSON.stringify({ cluster: lab.id })],
  ]);
  assert.match(out, /Running execution/i);
  const report = (await env.client.workflow.getHandle(id).result()) as RecoveryReport;
  t.diagnostic(`${report.outcome} in ${(report.rtoMs / 1000).toFixed(2)} s`);
  assert.equal(report.outcome, 'recovered');
  assert.equal(report.cluster, lab.id);
  assert.deepEqual(
    report.steps.filter((s) => s.state !== 'done'),
    [],
  );
});

test('temporal workflow start with the spec inline (a JSON file) recovers it', async (t) => {
  await disaster(lab);
  const id = `recover/${lab.id}`;
  // The spec file as JSON, under "spec" (what the Web UI's input box takes as well), made with
  // the very line the README shows.
  const input = join(dir, 'recover-input.json');
  const line = 'echo "{\\"spec\\": $(node_modules/.bin/yaml --json --single < "$1")}" > "$2"';
  t.diagnostic(`$ ${line}   # $1 = ${lab.specFile}, $2 = ${input}`);
  await execa('sh', ['-c', line, 'sh', lab.specFile, input]);
  assert.deepEqual(JSON.parse(readFileSync(input, 'utf8')), { spec: YAML.parse(readFileSync(lab.specFile, 'utf8')) });
  await temporal(t, [
    ...['workflow', 'start', '--type', 'recoverCluster', '--task-queue', 'polar-runbook'],
    ...['--workflow-id', id, '--input-file', input],
  ]);
  const report = (await env.client.workflow.getHandle(id).result()) as RecoveryReport;
  t.diagnostic(`${report.outcome} in ${(report.rtoMs / 1000).toFixed(2)} s`);
  assert.equal(report.outcome, 'recovered');
});

test('temporal workflow start of a drill by cluster name', async (t) => {
  const id = `drill/${lab.id}`;
  await temporal(t, [
    ...['workflow', 'start', '--type', 'drill', '--task-queue', 'polar-runbook'],
    ...['--workflow-id', id, '--input', JSON.stringify({ cluster: lab.id })],
  ]);
  const result = (await env.client.workflow.getHandle(id).result()) as DrillResult;
  t.diagnostic(`drill ${result.outcome}, RTO ${((result.rtoMs ?? 0) / 1000).toFixed(2)} s`);
  assert.equal(result.outcome, 'recovered');
  assert.equal(result.trigger, 'ui');
  assert.deepEqual(await sandboxLeftovers(lab.id), { dirs: [], processes: [], mounts: [], loops: [], links: [] });
});

test('a start under another workflow id is refused before anything is touched', async (t) => {
  const id = `recover-by-hand/${lab.id}`;
  await temporal(t, [
    ...['workflow', 'start', '--type', 'recoverCluster', '--task-queue', 'polar-runbook'],
    ...['--workflow-id', id, '--input', JSON.stringify({ cluster: lab.id })],
  ]);
  await assert.rejects(env.client.workflow.getHandle(id).result(), (err: Error) => {
    assert.match(String((err.cause as Error | undefined)?.message), new RegExp(`start this recovery with workflow id recover/${lab.id}`));
    return true;
  });
});
