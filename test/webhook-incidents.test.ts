// One recovery per incident, against a real dev server and recoveries that really end (the real
// workflows on a worker whose activities are stubs): repeats after a recovery completed or failed
// start nothing, a new firing starts a new one, a cooldown holds flapping back. Then the real
// sender: Debian's Alertmanager, configured with the README's own snippet, fired with amtool.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa, type ResultPromise } from 'execa';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { recoveryWorkflowId } from '../lib/model/input.js';
import { parseConfig } from '../client/webhook/config.js';
import { createWebhookServer } from '../client/webhook/server.js';
import { freePort } from '../scripts/ports.js';
import { runStubWorker, type StubWorker } from './helpers/stub-recovery-worker.js';
import { startTemporal } from './helpers/temporal.js';

const run = randomBytes(3).toString('hex');
const TOKEN = `token-${randomBytes(16).toString('hex')}`;
const name = (what: string) => `inc-${what}-${run}`;
const OK = name('ok');
const FAIL = name('fail');
const COOL = name('cool');
const AM = name('am');
const AM_BADTOKEN = name('am-badtoken');
const ALL = [OK, FAIL, COOL, AM, AM_BADTOKEN];

let env: TestWorkflowEnvironment;
let worker: StubWorker;
const servers: Server[] = [];
const chat: { server: Server; received: Record<string, any>[] } = { server: createServer(), received: [] };
let chatUrl: string;

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh receiver (no memory of earlier deliveries): what survives is only what Temporal holds. */
async function receiver(): Promise<{ url: string; server: Server }> {
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      clusters: { [OK]: 'auto', [FAIL]: 'auto', [COOL]: { policy: 'auto', cooldownSeconds: 600 }, [AM]: 'auto', [AM_BADTOKEN]: 'auto' },
      auth: { bearer: { tokenEnv: 'WH_TOKEN' } },
      notify: { urls: [`${chatUrl}/hook`] },
    },
    { WH_TOKEN: TOKEN },
  );
  const server = createWebhookServer({ config, client: env.client, log: () => undefined });
  servers.push(server);
  return { url: await listen(server), server };
}

const alert = (cluster: string, startsAt: string, status: 'firing' | 'resolved' = 'firing') => ({
  receiver: 'polar-runbook',
  status,
  alerts: [
    {
      status,
      labels: { alertname: 'PolarDBComputeDown', cluster },
      annotations: {},
      startsAt,
      endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: '',
      fingerprint: `fp-${cluster}`,
    },
  ],
  groupLabels: { cluster },
  commonLabels: { alertname: 'PolarDBComputeDown', cluster },
  commonAnnotations: {},
  externalURL: 'http://alertmanager.example',
  version: '4',
  groupKey: `{}:{cluster="${cluster}"}`,
  truncatedAlerts: 0,
});

async function post(url: string, body: unknown) {
  const res = await fetch(`${url}/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(' ')[1]) : 0;
}

const handleOf = (c: string) => env.client.workflow.getHandle(recoveryWorkflowId(c));
/** The run ids of recover/<cluster>, oldest first, once visibility has caught up with `atLeast` of them. */
async function runsOf(c: string, atLeast: number): Promise<string[]> {
  let runs: string[] = [];
  for (let i = 0; i < 100; i++) {
    runs = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = '${recoveryWorkflowId(c)}'` })) runs.unshift(w.runId);
    if (runs.length >= atLeast) break;
    await sleep(100);
  }
  await sleep(500); // a moment longer: a stray extra run would show now
  runs = [];
  for await (const w of env.client.workflow.list({ query: `WorkflowId = '${recoveryWorkflowId(c)}'` })) runs.unshift(w.runId);
  return runs;
}
/** Waits until the latest run of recover/<cluster> has ended. */
async function ended(c: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const d = await handleOf(c).describe();
    if (d.status.name !== 'RUNNING') return d.status.name;
    await sleep(100);
  }
  throw new Error(`recover/${c} did not end within 30 s`);
}

before(async () => {
  env = await startTemporal();
  worker = await runStubWorker(env, ALL, new Set([FAIL]));
  chat.server.on('request', (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c)).on('end', () => (chat.received.push(JSON.parse(body)), res.end('ok')));
  });
  chatUrl = await listen(chat.server);
});

after(async () => {
  await Promise.all(
    ALL.map((c) =>
      handleOf(c)
        .terminate('test cleanup')
        .catch(() => undefined),
    ),
  );
  await Promise.all([...servers, chat.server].map(close));
  await worker?.stop();
  await env?.teardown();
});

describe('one recovery per incident', () => {
  test('repeats after the recovery completed start nothing, even at a restarted receiver; a new firing starts a new one', async () => {
    const first = await receiver();
    const t1 = '2025-05-01T10:00:00.000Z';
    const started = await post(first.url, alert(OK, t1));
    assert.equal(started.status, 202);
    assert.equal(started.body.workflows[0].status, 'started');
    const firstRun = started.body.workflows[0].runId;
    assert.equal(await ended(OK), 'COMPLETED');

    for (let i = 0; i < 3; i++) {
      const repeat = await post(first.url, alert(OK, t1));
      assert.equal(repeat.status, 200);
      assert.equal(repeat.body.workflows[0].status, 'completed');
      assert.equal(repeat.body.workflows[0].started, false);
      assert.equal(repeat.body.workflows[0].runId, firstRun);
      assert.equal(repeat.body.workflows[0].outcome, 'recovered');
    }
    // A new process knows nothing of the first: the answer comes from the run's memo in Temporal.
    const second = await receiver();
    const afterRestart = await post(second.url, alert(OK, t1));
    assert.equal(afterRestart.status, 200);
    assert.equal(afterRestart.body.workflows[0].status, 'completed');
    assert.deepEqual(await runsOf(OK, 1), [firstRun], 'one run for the incident');
    assert.equal(await metric(first.url, `polar_webhook_recoveries_started_total{cluster="${OK}"}`), 1);
    assert.equal(await metric(first.url, 'polar_webhook_alerts_answered_total{answer="completed"}'), 3);

    // Resolved, then firing again: a new startsAt is a new incident.
    const resolved = await post(second.url, alert(OK, t1, 'resolved'));
    assert.equal(resolved.status, 202);
    assert.deepEqual(resolved.body.workflows, []);
    const again = await post(second.url, alert(OK, '2025-05-01T11:00:00.000Z'));
    assert.equal(again.status, 202);
    assert.equal(again.body.workflows[0].status, 'started');
    assert.notEqual(again.body.workflows[0].runId, firstRun);
    assert.equal(await ended(OK), 'COMPLETED');
    assert.deepEqual(await runsOf(OK, 2), [firstRun, again.body.workflows[0].runId]);
    const { memo } = await handleOf(OK).describe();
    assert.equal((memo as any).incident, JSON.stringify(['alertmanager', `fp-${OK}`, '2025-05-01T11:00:00.000Z']));
  });

  test('repeats after a failed recovery start nothing; the answer and one notification name the failed step', async () => {
    const { url } = await receiver();
    const t1 = '2025-05-01T10:00:00.000Z';
    const started = await post(url, alert(FAIL, t1));
    assert.equal(started.status, 202);
    assert.equal(await ended(FAIL), 'FAILED');

    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await post(url, alert(FAIL, t1)));
    for (const a of answers) {
      assert.equal(a.status, 200);
      const w = a.body.workflows[0];
      assert.equal(w.status, 'failed');
      assert.equal(w.started, false);
      assert.equal(w.step, 'preflight');
      assert.equal(w.failureType, 'StorageMissing');
      assert.match(w.text, /failed at step preflight \(StorageMissing\): storage image .* does not exist\. It waits for an operator/);
    }
    await sleep(1000); // notifications are sent without holding up the answer
    const notes = chat.received.filter((m) => m.cluster === FAIL);
    assert.equal(notes.length, 1, 'one notification for the failed incident, however many repeats');
    assert.equal(notes[0].kind, 'failed');
    assert.equal(notes[0].step, 'preflight');
    assert.match(notes[0].text, /waits for an operator/);
    assert.equal((await runsOf(FAIL, 1)).length, 1, 'the failed recovery was not retried');
  });

  test('a new incident within the cluster cooldown starts nothing', async () => {
    const { url } = await receiver();
    const first = await post(url, alert(COOL, '2025-05-01T10:00:00.000Z'));
    assert.equal(first.body.workflows[0].status, 'started');
    assert.equal(await ended(COOL), 'COMPLETED');
    const flap = await post(url, alert(COOL, '2025-05-01T10:05:00.000Z'));
    assert.equal(flap.status, 200);
    assert.equal(flap.body.workflows[0].status, 'cooldown');
    assert.ok(Date.parse(flap.body.workflows[0].until) > Date.now() + 500_000);
    assert.equal((await runsOf(COOL, 1)).length, 1);
  });
});

// --- A real Alertmanager -------------------------------------------------------------------------

const repo = fileURLToPath(new URL('../', import.meta.url));

/** The README's Alertmanager snippet, as a reader copies it. */
function readmeSnippet(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  // The first yaml block after the **Alertmanager** paragraph of the webhook section.
  const m = /\n\*\*Alertmanager\*\*[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has an Alertmanager yaml snippet after **Alertmanager**');
  return m[1]!;
}

describe('a real Alertmanager with the README snippet', () => {
  let dir: string;
  let am: ResultPromise | undefined;
  let amLog = '';
  let amUrl: string;
  let hook: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'polar-am-'));
    hook = (await receiver()).url;
    const snippet = readmeSnippet();
    writeFileSync(join(dir, 'readme.yml'), snippet);
    const check = await execa('amtool', ['check-config', join(dir, 'readme.yml')], { reject: false, all: true });
    assert.equal(check.exitCode, 0, `amtool check-config refuses the README snippet:\n${check.all}`);

    // The test's copy: only where the webhook is, where the token is, and intervals short enough to wait for.
    const doc = parseYaml(snippet);
    const route = doc.route.routes.find((r: any) => r.receiver === 'polar-runbook');
    Object.assign(route, { group_wait: '1s', group_interval: '1s', repeat_interval: '2s' });
    const webhook = doc.receivers.find((r: any) => r.name === 'polar-runbook').webhook_configs[0];
    webhook.url = `${hook}/alerts`;
    webhook.http_config.authorization.credentials_file = join(dir, 'token');
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'alertmanager.yml'), toYaml(doc));

    const port = await freePort();
    amUrl = `http://127.0.0.1:${port}`;
    am = execa(
      'prometheus-alertmanager',
      [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=', // no gossip
      ],
      { reject: false, buffer: false, stdin: 'ignore', cleanup: true },
    );
    am.stderr!.on('data', (d: Buffer) => (amLog += String(d)));
    am.stdout!.on('data', (d: Buffer) => (amLog += String(d)));
    for (let i = 0; i < 100; i++) {
      const ready = await fetch(`${amUrl}/-/ready`).catch(() => undefined);
      if (ready?.ok) return;
      await sleep(100);
    }
    throw new Error(`Alertmanager did not become ready:\n${amLog}`);
  });

  after(async () => {
    if (am) {
      am.kill('SIGTERM'); // by its own pid; a no-op when it already exited
      await am;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fire = (cluster: string) =>
    execa('amtool', [
      `--alertmanager.url=${amUrl}`,
      'alert',
      'add',
      'alertname=PolarDBComputeDown',
      `cluster=${cluster}`,
      'severity=critical',
    ]);

  test('one alert makes one recovery; the repeats after it finished start nothing', { timeout: 90_000 }, async () => {
    await fire(AM);
    const answered = `polar_webhook_alerts_answered_total{answer="completed"}`;
    const before = await metric(hook, answered);
    // Alertmanager repeats every 2 s: wait for three repeats answered "completed".
    for (let i = 0; i < 600 && (await metric(hook, answered)) - before < 3; i++) await sleep(100);
    assert.ok((await metric(hook, answered)) - before >= 3, `Alertmanager's repeats were not answered "completed":\n${amLog}`);
    assert.equal(await metric(hook, `polar_webhook_recoveries_started_total{cluster="${AM}"}`), 1);
    assert.equal((await runsOf(AM, 1)).length, 1);
    assert.equal((await handleOf(AM).describe()).status.name, 'COMPLETED');
    assert.doesNotMatch(amLog, /Notify for alerts failed/, 'every delivery was accepted');
  });

  test('a wrong token is refused with 401, and Alertmanager logs it', { timeout: 60_000 }, async () => {
    // Alertmanager reads credentials_file at each delivery.
    writeFileSync(join(dir, 'token'), `${TOKEN}-wrong\n`);
    const before = await metric(hook, 'polar_webhook_alerts_rejected_total{reason="unauthorized"}');
    await fire(AM_BADTOKEN);
    for (let i = 0; i < 300 && !/Notify for alerts failed[^\n]*401/.test(amLog); i++) await sleep(100);
    assert.match(amLog, /Notify for alerts failed[^\n]*unexpected status code 401/);
    assert.ok((await metric(hook, 'polar_webhook_alerts_rejected_total{reason="unauthorized"}')) > before);
    await assert.rejects(handleOf(AM_BADTOKEN).describe(), /not found/i);
  });
});
