// The CLI as an operator runs it (bin/polar-runbook, a separate process): --help/-h on every
// command and subcommand (exit 0), usage errors (exit 2), -o json that parses, a failed recovery
// that prints its type, step, node and cause with what to do (exit 1), and an unreachable
// server named within the connect timeout (exit 4). Real dev server, real worker.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DrillResult } from '../lib/model/drill.js';
import { freePort } from '../scripts/ports.js';
import { startTemporal } from './helpers/temporal.js';
import { runWorker, type RunningWorker } from './helpers/worker.js';

const repo = fileURLToPath(new URL('../', import.meta.url));
const bin = join(repo, 'bin/polar-runbook');
const id = `cli${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `${id}-`));
let env: TestWorkflowEnvironment | undefined;
let worker: RunningWorker | undefined;

const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
  execa(bin, args, {
    reject: false,
    cwd: repo,
    env: { TEMPORAL_ADDRESS: env?.address ?? '127.0.0.1:1', TEMPORAL_CONFIG_FILE: join(dir, 'none.toml'), ...extraEnv },
    stdin: 'ignore',
  });

before(async () => {
  env = await startTemporal();
  worker = await runWorker(env);
});
after(async () => {
  await worker?.stop();
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

const COMMANDS = [
  'recover',
  'plan',
  'status',
  'follow',
  'report',
  'approve',
  'abort',
  'drill',
  'drill history',
  'drill teardown',
  'schedule',
  'schedule create',
  'schedule list',
  'schedule pause',
  'schedule unpause',
  'schedule trigger',
  'schedule delete',
];

test('--help and -h on every command print its usage and exit 0; the top level lists the exit codes', async () => {
  for (const flag of ['--help', '-h']) {
    const top = await cli([flag]);
    assert.equal(top.exitCode, 0, top.stderr);
    assert.match(top.stdout, /^usage: polar-runbook <command>/);
    assert.match(top.stdout, /exit codes: 0 .*1 failed.*2 usage/s);
    assert.match(top.stdout, /3 waiting for approval; 4 Temporal unreachable/);
  }
  await Promise.all(
    COMMANDS.map(async (c) => {
      for (const flag of ['--help', '-h']) {
        const r = await cli([...c.split(' '), flag]);
        assert.equal(r.exitCode, 0, `${c} ${flag}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: polar-runbook ${c}`), `${c} ${flag} prints its own usage`);
        assert.match(r.stdout, /exit codes:/);
        assert.equal(r.stderr, '');
      }
    }),
  );
  const lab = await execa(process.execPath, ['--import', 'tsx', 'lab/cli.ts', '--help'], { cwd: repo, reject: false });
  assert.equal(lab.exitCode, 0, lab.stderr);
  assert.match(lab.stdout, /^usage: npm run lab -- create\|disaster\|status\|destroy/);
  assert.doesNotMatch(lab.stdout + lab.stderr, /TypeError|at .*\.ts:\d+/);
});

test('usage errors exit 2 with the command usage', async () => {
  const cases: [string[], RegExp][] = [
    [[], /^usage: polar-runbook <command>/m],
    [['nosuch'], /unknown command nosuch/],
    [['--bogus'], /unknown option --bogus/],
    [['status'], /missing <workflowId>[\s\S]*usage: polar-runbook status/],
    [['status', 'a', 'b'], /unexpected argument b/],
    [['status', 'x', '--cron', 'y'], /Unknown option '--cron'[\s\S]*usage: polar-runbook status/],
    [['status', 'x', '-o', 'yaml'], /-o takes json or text/],
    [['recover'], /give a spec file or --cluster/],
    [['schedule'], /missing the schedule command/],
    [['schedule', 'frobnicate'], /unknown schedule command frobnicate/],
    [['plan'], /missing <spec.yaml>/],
  ];
  await Promise.all(
    cases.map(async ([args, re]) => {
      const r = await cli(args);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }),
  );
});

test('a failed recovery prints its type, step, node and cause with what to do, exits 1; status and -o json agree', async () => {
  const port = await freePort();
  const cluster = `${id}-missing`;
  const spec = {
    cluster,
    profile: 'postgres',
    storage: {
      image: `/nonexistent/${id}/shared.img`,
      diskName: `${id}-shared`,
      mountPoint: `/tmp/${id}/mnt`,
      dataDir: `/tmp/${id}/mnt/pgdata`,
    },
    binaries: { dir: '/usr/lib/postgresql/15', shareDir: '/usr/share/postgresql/15' },
    replication: { network: '127.0.0.1/32' },
    nodes: [{ name: 'pb1', role: 'primary', host: { transport: 'local' }, address: '127.0.0.1', port, localDir: `/tmp/${id}/pb1/primary` }],
  };
  const file = join(dir, 'missing.json');
  writeFileSync(file, JSON.stringify(spec));
  const r = await cli(['recover', file]);
  assert.equal(r.exitCode, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /started recovery recover\//);
  assert.match(r.stdout, /recover\/.*: FAILED/);
  assert.match(r.stdout, /type: +StorageMissing/);
  assert.match(r.stdout, /step: +preflight/);
  assert.match(r.stdout, /cause: +.*disk image \/nonexistent\/.*shared\.img is not there/);
  assert.match(r.stdout, /to do: +the image file or block device is not there/);

  const st = await cli(['status', `recover/${cluster}`]);
  assert.equal(st.exitCode, 1, st.stdout + st.stderr);
  assert.match(st.stdout, /type: +StorageMissing/);
  const js = await cli(['status', `recover/${cluster}`, '-o', 'json']);
  assert.equal(js.exitCode, 1);
  const doc = JSON.parse(js.stdout) as { status: string; failure: { type: string; step: string; cause: string; whatToDo: string } };
  assert.equal(doc.status, 'FAILED');
  assert.equal(doc.failure.type, 'StorageMissing');
  assert.equal(doc.failure.step, 'preflight');
  assert.match(doc.failure.whatToDo, /check the path/);
  const rj = await cli(['report', `recover/${cluster}`, '-o', 'json']);
  assert.equal(rj.exitCode, 1);
  assert.equal((JSON.parse(rj.stdout) as { failure: { type: string } }).failure.type, 'StorageMissing');

  const none = await cli(['status', `recover/${id}-never`]);
  assert.equal(none.exitCode, 1);
  assert.match(none.stderr, /no workflow/);
});

test('drill history: a header, time order, refused drills, -o json, --html', async () => {
  const drill = (cluster: string, startedAt: string, outcome: DrillResult['outcome'], rtoMs?: number): DrillResult => ({
    cluster,
    workflowId: `drill/${cluster}`,
    runId: randomBytes(8).toString('hex'),
    trigger: 'schedule',
    startedAt,
    endedAt: startedAt,
    durationMs: 9000,
    outcome,
    ...(rtoMs ? { rtoMs } : {}),
    steps: [],
    ...(outcome === 'refused' ? { error: 'a recovery is running', errorType: 'RecoveryRunning' } : {}),
  });
  const file = join(dir, 'history.jsonl');
  // Appended out of order (drills end out of order).
  const list = [drill('b', '2026-11-03T03:00:00.000Z', 'recovered', 4100), drill('a', '2026-11-01T03:00:00.000Z', 'recovered', 3900)];
  list.push(drill('a', '2026-11-02T03:00:00.000Z', 'refused'));
  writeFileSync(file, list.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const r = await cli(['drill', 'history', '--file', file]);
  assert.equal(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^STARTED +CLUSTER +OUTCOME +RTO +DRILL +TRIGGER +WORKFLOW/);
  assert.deepEqual(
    lines.slice(1).map((l) => l.slice(0, 24)),
    ['2026-11-01T03:00:00.000Z', '2026-11-02T03:00:00.000Z', '2026-11-03T03:00:00.000Z'],
  );
  assert.match(lines[2]!, /refused .*RecoveryRunning: a recovery is running/);
  const js = await cli(['drill', 'history', '--file', file, '--cluster', 'a', '-o', 'json']);
  assert.equal(js.exitCode, 0);
  assert.deepEqual(
    (JSON.parse(js.stdout) as DrillResult[]).map((d) => [d.cluster, d.outcome]),
    [
      ['a', 'recovered'],
      ['a', 'refused'],
    ],
  );
  const html = join(dir, 'trend.html');
  const h = await cli(['drill', 'history', '--file', file, '--html', html]);
  assert.equal(h.exitCode, 0, h.stderr);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /<svg class="trend"/);
  assert.doesNotMatch(page, /<script|<link|src="http|href="http/);
});

test('schedule: -o json parses; deleting twice says it is already gone and exits 0; an unknown cluster is refused', async () => {
  const list = await cli(['schedule', 'list', '-o', 'json']);
  assert.equal(list.exitCode, 0, list.stderr);
  assert.ok(Array.isArray(JSON.parse(list.stdout)));
  const del = await cli(['schedule', 'delete', `${id}-none`]);
  assert.equal(del.exitCode, 0, del.stderr);
  assert.match(del.stdout, /already gone/);
  const create = await cli(['schedule', 'create', `${id}-nosuchcluster`]);
  assert.equal(create.exitCode, 1, create.stdout);
  assert.match(create.stderr, /the worker does not know cluster .*-nosuchcluster/);
  const after = await cli(['schedule', 'delete', `${id}-nosuchcluster`]);
  assert.match(after.stdout, /already gone/, 'no schedule was created');
});

test('an unreachable Temporal is named within the connect timeout, exit 4', async () => {
  const port = await freePort(); // nothing listens there
  const baseline = Date.now();
  await cli(['--help']);
  const startup = Date.now() - baseline; // node + tsx + the CLI's modules, on this (loaded) machine
  const t0 = Date.now();
  const r = await cli(['status', 'recover/x'], { TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
  const ms = Date.now() - t0;
  assert.equal(r.exitCode, 4, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${port}`));
  assert.ok(ms - startup < 5000, `named after ${ms} ms, of which ${startup} ms process start-up`);
  console.log(`# unreachable named after ${ms} ms (process start-up ${startup} ms)`);
});
