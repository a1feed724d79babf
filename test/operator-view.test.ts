// The operator's view, on a plain Temporal (`temporal server start-dev`, no flags):
//  - the worker registers its search attributes itself and a recovery of a real lab completes;
//  - where the server refuses to register them, the worker exits with the command to run;
//  - `follow` shows the replica clone (256 MB) progressing, from the activity's heartbeat details;
//  - the report page and the drill-trend page render in headless Chromium (screenshots kept in
//    the test's output dir, its path printed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { follow } from '../client/follow.js';
import { drillTrendHtml } from '../client/html.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { DrillResult } from '../lib/model/drill.js';
import type { RecoveryReport } from '../lib/model/report.js';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { startDevServer, type DevServer } from '../scripts/dev-server.js';
import { spawnWorker, stopAllWorkers } from './helpers/worker-process.js';

const repo = fileURLToPath(new URL('../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), `operator-view-${randomBytes(3).toString('hex')}-`));
const servers: DevServer[] = [];
let lab: Lab | undefined;
let browser: Browser | undefined;
let connection: Connection | undefined;

before(() => console.log(`# test output (screenshots, pages, worker logs): ${out}`));
after(async () => {
  await browser?.close().catch(() => {});
  await stopAllWorkers();
  await connection?.close().catch(() => {});
  if (lab) await destroyLab(lab);
  for (const s of servers) await s.stop();
});

const cli = (address: string, args: string[]) =>
  execa(join(repo, 'bin/polar-runbook'), args, { reject: false, env: { TEMPORAL_ADDRESS: address }, stdin: 'ignore' });

let report: RecoveryReport | undefined;
let address = '';

test('a plain dev server: the worker registers the search attributes; a 256 MB recovery completes, its clone followed live', async () => {
  const server = await startDevServer({ searchAttributes: false, tuned: false });
  servers.push(server);
  address = server.address;
  const worker = spawnWorker({ address, commandLog: join(out, 'commands.jsonl'), outputFile: join(out, 'worker.log') });
  await worker.ready;
  assert.match(
    readFileSync(join(out, 'worker.log'), 'utf8'),
    /registered search attributes ClusterName, Trigger, Phase, Outcome in namespace default/,
  );

  lab = await createLab({ replicas: 1, dataMb: 256 });
  await disaster(lab);
  connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const { handle } = await startOrAttachRecovery(client, lab.spec.cluster, { spec: lab.spec, trigger: 'test' });
  const lines: string[] = [];
  report = await follow(handle, (l) => lines.push(l), 250, { tty: false, lineEveryMs: 500, describeEveryMs: 500 });
  for (const l of lines) console.log(`# ${l}`);
  assert.equal(report.outcome, 'recovered');
  const clone = lines.filter((l) => /^\s+\.\.\.\s+buildNode:pb2 .*clone [\d.]+ MB of [\d.]+ MB \(\d+ %\)/.test(l));
  assert.ok(clone.length >= 2, `at least two progress lines for the clone of pb2, got:\n${lines.join('\n')}`);
  const sizes = clone.map((l) => Number(/clone ([\d.]+) MB/.exec(l)![1]));
  assert.ok(Math.max(...sizes) > 0, `the clone's bytes: ${sizes.join(', ')}`);
  assert.ok(lines.some((l) => /ok +buildNode:pb2/.test(l)));

  // The CLI on the same server: status -o json of a completed recovery parses, exit 0.
  const st = await cli(address, ['status', handle.workflowId, '-o', 'json']);
  assert.equal(st.exitCode, 0, st.stderr);
  const doc = JSON.parse(st.stdout) as { status: string; report: RecoveryReport };
  assert.equal(doc.status, 'COMPLETED');
  assert.equal(doc.report.outcome, 'recovered');
});

test('registration refused: the worker exits with the exact command to run', async () => {
  // SQL visibility (the dev server's) has 10 Keyword slots per namespace: taken, the server refuses ours for real.
  const taken = Array.from({ length: 10 }, (_, i) => ['--search-attribute', `Other${i}=Keyword`]).flat();
  const server = await startDevServer({ searchAttributes: false, tuned: false, extraArgs: taken });
  servers.push(server);
  const log = join(out, 'worker-refused.log');
  const worker = spawnWorker({ address: server.address, commandLog: join(out, 'commands-refused.jsonl'), outputFile: log });
  await assert.rejects(worker.ready, /exited before it polled \(1\)/);
  const text = readFileSync(log, 'utf8');
  assert.match(text, /the server refused to register them \(.*cannot have more than 10 search attribute of type Keyword/);
  const cmd = /temporal operator search-attribute create .*/.exec(text)?.[0];
  assert.equal(
    cmd,
    `temporal operator search-attribute create --address ${server.address} --namespace default --name ClusterName --type Keyword --name Trigger --type Keyword --name Phase --type Keyword --name Outcome --type Keyword`,
  );
});

test('the report page and the drill-trend page render in headless Chromium', async () => {
  assert.ok(report, 'the recovery test ran first');
  const page1 = join(out, 'report.html');
  const r = await cli(address, ['report', report.workflowId, '--html', page1]);
  assert.equal(r.exitCode, 0, r.stderr);
  const html = readFileSync(page1, 'utf8');
  assert.doesNotMatch(html, /<script|<link|src="http|href="http|url\(/, 'self-contained: no external resource');

  const history: DrillResult[] = [];
  const day = Date.parse('2026-10-05T03:00:00Z');
  for (let i = 0; i < 8; i++)
    for (const [c, base] of [
      ['billing', 3600],
      ['ledger', 5200],
    ] as const) {
      const startedAt = new Date(day + i * 7 * 86_400_000 + (c === 'ledger' ? 3_600_000 : 0)).toISOString();
      const refused = c === 'ledger' && i === 5;
      history.push({
        cluster: c,
        workflowId: `drill/${c}-${startedAt.replace(/\.000Z$/, 'Z')}`,
        runId: randomBytes(8).toString('hex'),
        trigger: 'schedule',
        startedAt,
        endedAt: startedAt,
        durationMs: base * 3,
        outcome: refused ? 'refused' : 'recovered',
        ...(refused ? { error: 'a recovery of ledger is running', errorType: 'RecoveryRunning' } : { rtoMs: base + ((i * 377) % 900) }),
        steps: [],
      });
    }
  const page2 = join(out, 'drill-trend.html');
  writeFileSync(page2, drillTrendHtml(history));

  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  await page.goto(`file://${page1}`);
  const stepIds = report.steps.filter((s) => s.startedAt).map((s) => s.id);
  assert.equal(await page.locator('svg.timeline rect.bar').count(), stepIds.length, 'one bar per step');
  for (const id of ['fence', 'buildNode:pb1', 'buildNode:pb2', 'startNode:pb3', 'verifyData'])
    assert.ok(await page.locator(`svg.timeline g.step[data-step="${id}"]`).isVisible(), `${id} on the timeline`);
  assert.match(await page.locator('h1').innerText(), new RegExp(`Recovery of cluster ${report.cluster} RECOVERED`));
  assert.ok(
    await page
      .getByText(/verified fingerprint|fingerprint of \d+ tables matches/)
      .first()
      .isVisible(),
  );
  // Parallel branches: the standby's and the replica's steps overlap in time.
  const box = async (id: string) => (await page.locator(`g.step[data-step="${id}"] rect`).boundingBox())!;
  const [standby, replica] = [await box('startNode:pb3'), await box('buildNode:pb2')];
  assert.ok(standby.x < replica.x + replica.width && replica.x < standby.x + standby.width, 'standby and replica side by side in time');
  await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
  await page.screenshot({ path: join(out, 'report-top.png') }); // the first screen: headline and timeline

  await page.goto(`file://${page2}`);
  assert.equal(await page.locator('svg.trend circle.point').count(), 15, 'one point per drill with an RTO');
  assert.equal(await page.locator('svg.trend polyline.trend').count(), 2, 'one line per cluster');
  assert.equal(await page.locator('svg.trend text.miss.refused').count(), 1, 'the refused drill marked');
  assert.ok(await page.getByText('DR drills: RTO over time').isVisible());
  await page.screenshot({ path: join(out, 'drill-trend.png'), fullPage: true });
  console.log(`# screenshots: ${join(out, 'report.png')} ${join(out, 'drill-trend.png')}`);
});
