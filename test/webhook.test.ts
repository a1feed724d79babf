// The alert webhook receiver against a real Temporal dev server: what reaches Temporal, and what never does.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, request, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { recoveryWorkflowId, RecoverInput } from '../lib/model/input.js';
import { notify } from '../lib/notify.js';
import { parseConfig, Policy, WebhookConfig } from '../client/webhook/config.js';
import { createWebhookServer } from '../client/webhook/server.js';
import { startTemporal } from './helpers/temporal.js';

const run = randomBytes(4).toString('hex');
const TOKEN = `token-${randomBytes(16).toString('hex')}`;
const HMAC_SECRET = `hmac-${randomBytes(16).toString('hex')}`;
const BODY_LIMIT = 64 * 1024;

/** Every cluster a test may cause a recovery for; each test has its own, so a stray start shows. */
const clusters = {} as Record<string, string>;
const policies: Record<string, Policy> = {};
const cluster = (name: string, policy: Policy = 'auto'): string => {
  const c = `wh-${name}-${run}`;
  clusters[name] = c;
  policies[c] = policy;
  return c;
};
const DEDUP = cluster('dedup');
const AUTO = cluster('auto');
const GENERIC = cluster('generic');
const GRAFANA = cluster('grafana');
const BAD_SIG = cluster('bad-sig');
const STALE = cluster('stale');
const BAD_TOKEN = cluster('bad-token');
const NO_TOKEN = cluster('no-token');
const MIXED = cluster('mixed');
const RESOLVED = cluster('resolved');
const APPROVE = cluster('approve', 'approve');
const NOTIFY_ONLY = cluster('notify', 'notify-only');
const UNAVAILABLE = cluster('unavailable');
const GRAFANA_PUT = cluster('grafana-put');
const MEDIA = cluster('media');

let env: TestWorkflowEnvironment;
let receiver: Server;
let base: string;
const logs: Record<string, unknown>[] = [];
const sentSignatures: string[] = [];
const chat: { server: Server; received: Record<string, unknown>[] } = { server: createServer(), received: [] };

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
const closedPort = async (): Promise<number> => {
  const s = createServer();
  await listen(s);
  const { port } = s.address() as AddressInfo;
  await close(s);
  return port;
};

const configFor = (notifyUrl: string, overrides: Record<string, unknown> = {}): WebhookConfig =>
  parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      clusters: policies,
      auth: { bearer: { tokenEnv: 'WH_TOKEN' }, hmac: { secretEnv: 'WH_HMAC' } },
      bodyLimitBytes: BODY_LIMIT,
      notify: { urls: [notifyUrl] },
      ...overrides,
    },
    { WH_TOKEN: TOKEN, WH_HMAC: HMAC_SECRET },
  );

/** The shape Alertmanager 0.27 POSTs. */
const alertmanagerPayload = (c: string, status: 'firing' | 'resolved' = 'firing', fingerprint = `am-${c}`) => ({
  receiver: 'polar-runbook',
  status,
  alerts: [
    {
      status,
      labels: { alertname: 'PolarDBComputeDown', cluster: c, severity: 'critical' },
      annotations: { summary: `all compute hosts of ${c} are down` },
      startsAt: '2025-05-01T10:00:00.000Z',
      endsAt: status === 'resolved' ? '2025-05-01T10:30:00.000Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=up%3D%3D0',
      fingerprint,
    },
  ],
  groupLabels: { alertname: 'PolarDBComputeDown' },
  commonLabels: { alertname: 'PolarDBComputeDown', cluster: c, severity: 'critical' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager.example:9093',
  version: '4',
  groupKey: '{}:{alertname="PolarDBComputeDown"}',
  truncatedAlerts: 0,
});

/** The shape Grafana unified alerting POSTs. */
const grafanaPayload = (c: string) => ({
  receiver: 'polar-runbook',
  status: 'firing',
  orgId: 1,
  alerts: [
    {
      status: 'firing',
      labels: { alertname: 'ComputeDown', cluster: c, grafana_folder: 'db' },
      annotations: { summary: 'no compute host answers' },
      startsAt: '2025-05-01T10:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://grafana.example/alerting/grafana/abc/view',
      fingerprint: `gf-${c}`,
      silenceURL: 'http://grafana.example/alerting/silence/new',
      dashboardURL: '',
      panelURL: '',
      values: { A: 0 },
      valueString: "[ var='A' labels={} value=0 ]",
    },
  ],
  groupLabels: { alertname: 'ComputeDown' },
  commonLabels: { alertname: 'ComputeDown', cluster: c },
  commonAnnotations: { summary: 'no compute host answers' },
  externalURL: 'http://grafana.example/',
  version: '1',
  groupKey: '{}:{alertname="ComputeDown"}',
  truncatedAlerts: 0,
  title: '[FIRING:1] ComputeDown',
  state: 'alerting',
  message: 'no compute host answers',
});

const bearer = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const grafanaHeaders = (body: string, { secret = HMAC_SECRET, timestamp = Math.floor(Date.now() / 1000) } = {}) => {
  const ts = String(timestamp);
  const signature = createHmac('sha256', secret).update(`${ts}:${body}`).digest('hex');
  sentSignatures.push(signature);
  return { 'x-grafana-alerting-signature': signature, 'x-grafana-alerting-signature-timestamp': ts };
};

async function post(body: unknown, headers: Record<string, string> = bearer(), path = '/alerts', method = 'POST') {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, any> };
}

const handleOf = (c: string) => env.client.workflow.getHandle(recoveryWorkflowId(c));
async function recoveryExists(c: string): Promise<boolean> {
  try {
    await handleOf(c).describe();
    return true;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}
async function startInput(c: string): Promise<RecoverInput> {
  const history = await handleOf(c).fetchHistory();
  const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  return defaultPayloadConverter.fromPayload(payload);
}
/** Executions visibility knows for the workflow id (it lags a moment behind starts). */
async function executionsOf(c: string): Promise<number> {
  const query = `WorkflowId = '${recoveryWorkflowId(c)}'`;
  for (let i = 0; i < 50; i++) {
    const n = (await env.client.workflow.count(query)).count;
    if (n > 0) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
  return 0;
}

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

before(async () => {
  env = await startTemporal();
  chat.server.on('request', (req, res) => {
    let body = '';
    req
      .on('data', (c) => (body += c))
      .on('end', () => {
        chat.received.push(JSON.parse(body));
        res.end('ok');
      });
  });
  const chatUrl = await listen(chat.server);
  receiver = createWebhookServer({
    config: configFor(`${chatUrl}/services/T000/B000/SECRETPATH`),
    client: env.client,
    log: (e) => logs.push(e),
  });
  base = await listen(receiver);
});

after(async () => {
  await Promise.all(
    Object.values(clusters).map(
      (c) =>
        handleOf(c)
          .terminate('webhook test cleanup')
          .catch(() => undefined), // never started, or already closed
    ),
  );
  await Promise.all([receiver, chat.server].filter(Boolean).map(close));
  await env?.teardown();
});

describe('webhook receiver', () => {
  test('100 deliveries of one Alertmanager alert start exactly one recovery', async () => {
    const dedupBefore = await metric('polar_webhook_alerts_deduplicated_total');
    const payload = alertmanagerPayload(DEDUP);
    const responses: Awaited<ReturnType<typeof post>>[] = [];
    for (let i = 0; i < 10; i++) responses.push(...(await Promise.all(Array.from({ length: 10 }, () => post(payload)))));

    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([202]));
    const started = responses.filter((r) => r.body.workflows[0].started);
    assert.equal(started.length, 1);
    for (const r of responses) assert.equal(r.body.workflows[0].workflowId, `recover/${DEDUP}`);
    assert.equal(await executionsOf(DEDUP), 1);
    assert.equal((await metric('polar_webhook_alerts_deduplicated_total')) - dedupBefore, 99);
    assert.equal(await metric('polar_webhook_recoveries_started_total', `{cluster="${DEDUP}"}`), 1);
  });

  test('an auto cluster starts without approval and records the alert in the memo', async () => {
    const r = await post(alertmanagerPayload(AUTO, 'firing', 'fp-auto-1'), bearer(), '/alertmanager');
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, {
      workflows: [{ cluster: AUTO, workflowId: `recover/${AUTO}`, started: true, status: 'started', runId: r.body.workflows[0]?.runId }],
      notified: [],
      ignored: 0,
    });
    const { memo, runId } = await handleOf(AUTO).describe();
    assert.equal(r.body.workflows[0].runId, runId);
    assert.deepEqual((memo as any).alert, {
      source: 'alertmanager',
      fingerprint: 'fp-auto-1',
      labels: { alertname: 'PolarDBComputeDown', cluster: AUTO, severity: 'critical' },
      startsAt: '2025-05-01T10:00:00.000Z',
    });
    assert.deepEqual(await startInput(AUTO), { cluster: AUTO, trigger: 'webhook', requireApproval: false });
  });

  test('an approve cluster starts with requireApproval', async () => {
    const r = await post(alertmanagerPayload(APPROVE));
    assert.equal(r.status, 202);
    assert.equal(r.body.workflows[0].started, true);
    assert.deepEqual(await startInput(APPROVE), { cluster: APPROVE, trigger: 'webhook', requireApproval: true });
  });

  test('a generic {cluster} document starts a recovery', async () => {
    const r = await post({ cluster: GENERIC, fingerprint: 'gen-1' });
    assert.equal(r.status, 202);
    const { memo } = await handleOf(GENERIC).describe();
    assert.equal((memo as any).alert.source, 'generic');
    assert.equal((memo as any).alert.fingerprint, 'gen-1');
  });

  test('a Grafana delivery with a valid signature and timestamp starts a recovery', async () => {
    const body = JSON.stringify(grafanaPayload(GRAFANA));
    const r = await post(body, grafanaHeaders(body), '/grafana');
    assert.equal(r.status, 202);
    assert.equal(r.body.workflows[0].started, true);
    const { memo } = await handleOf(GRAFANA).describe();
    assert.equal((memo as any).alert.source, 'grafana');
    assert.equal((memo as any).alert.fingerprint, `gf-${GRAFANA}`);
  });

  test('a wrong signature is refused and starts nothing', async () => {
    const body = JSON.stringify(grafanaPayload(BAD_SIG));
    const r = await post(body, grafanaHeaders(body, { secret: 'not-the-secret' }));
    assert.equal(r.status, 401);
    assert.match(r.body.error, /signature does not match/);
    assert.equal(await recoveryExists(BAD_SIG), false);
  });

  test('a stale signature timestamp is refused and starts nothing', async () => {
    const body = JSON.stringify(grafanaPayload(STALE));
    const r = await post(body, grafanaHeaders(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }));
    assert.equal(r.status, 401);
    assert.match(r.body.error, /outside the allowed window/);
    assert.equal(await recoveryExists(STALE), false);
  });

  test('a signature over a different body is refused', async () => {
    const signedFor = JSON.stringify(grafanaPayload(BAD_SIG));
    const r = await post(JSON.stringify(grafanaPayload(STALE)), grafanaHeaders(signedFor));
    assert.equal(r.status, 401);
    assert.equal(await recoveryExists(STALE), false);
  });

  test('a wrong or missing bearer token is refused and starts nothing', async () => {
    const wrong = await post(alertmanagerPayload(BAD_TOKEN), bearer(`${TOKEN}x`));
    assert.equal(wrong.status, 401);
    assert.equal(await recoveryExists(BAD_TOKEN), false);

    const missing = await post(alertmanagerPayload(NO_TOKEN), {});
    assert.equal(missing.status, 401);
    assert.match(missing.body.error, /no credentials/);
    assert.equal(await recoveryExists(NO_TOKEN), false);
  });

  test('a valid token does not excuse a wrong signature', async () => {
    const body = JSON.stringify(grafanaPayload(MIXED));
    const r = await post(body, { ...bearer(), ...grafanaHeaders(body, { secret: 'not-the-secret' }) });
    assert.equal(r.status, 401);
    assert.equal(await recoveryExists(MIXED), false);
  });

  test('a body over the limit is refused with 413 (declared length)', async () => {
    const r = await fetch(`${base}/alerts`, {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: 'x'.repeat(BODY_LIMIT + 1),
    });
    assert.equal(r.status, 413);
    assert.match((await r.json()).error, /exceeds the limit/);
  });

  test('a chunked body over the limit is refused with 413 (counted while reading)', async () => {
    const port = new URL(base).port;
    const status = await new Promise<number>((resolve, reject) => {
      const headers = { ...bearer(), 'content-type': 'application/json' };
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/alerts', headers }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      // Chunked (no content-length): the receiver only learns the size by reading.
      for (let sent = 0; sent <= BODY_LIMIT; sent += 16 * 1024) req.write(' '.repeat(16 * 1024));
      req.end();
    });
    assert.equal(status, 413);
  });

  test('malformed JSON and unrecognized payloads are refused with 400 saying what is wrong', async () => {
    const notJson = await post('{"version":"4",', bearer());
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error, /not valid JSON/);

    // Neither the answer nor the log quotes the body back (V8's own message would).
    const marker = `SECRET-BODY-${run}`;
    const quoted = await post(`{"version":"4","alerts":[${marker}]}`, bearer());
    assert.equal(quoted.status, 400);
    assert.match(quoted.body.error, /^body is not valid JSON( \(at byte offset \d+\))?$/);
    const badVersion = await post({ version: marker, alerts: [] });
    assert.equal(badVersion.status, 400);
    assert.ok(!JSON.stringify([quoted.body, badVersion.body, logs]).includes(marker), 'request bytes were echoed');

    const badAlert = await post({ version: '4', status: 'firing', alerts: [{ status: 'burning', labels: {}, startsAt: 'x' }] });
    assert.equal(badAlert.status, 400);
    assert.match(badAlert.body.error, /alerts\.0\.status/);

    const unknownShape = await post({ hello: 'world' });
    assert.equal(unknownShape.status, 400);
    assert.match(unknownShape.body.error, /unrecognized payload/);
  });

  test('a firing alert for a cluster outside the allowlist is refused with 422', async () => {
    const stranger = `wh-stranger-${run}`;
    const r = await post(alertmanagerPayload(stranger));
    assert.equal(r.status, 422);
    assert.equal(r.body.unknown, 1);
    assert.ok(!JSON.stringify([r.body, logs]).includes(stranger), 'the label value is not echoed');
    assert.equal(await recoveryExists(stranger), false);
  });

  test('a resolved alert is accepted, counted as ignored, and starts nothing', async () => {
    const r = await post(alertmanagerPayload(RESOLVED, 'resolved'));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, { workflows: [], notified: [], ignored: 1 });
    assert.equal(await recoveryExists(RESOLVED), false);
  });

  test('a notify-only cluster is notified and no recovery is started', async () => {
    const r = await post(alertmanagerPayload(NOTIFY_ONLY));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, { workflows: [], notified: [NOTIFY_ONLY], ignored: 0 });
    assert.equal(await recoveryExists(NOTIFY_ONLY), false);
    for (let i = 0; i < 50 && !chat.received.some((m) => m.cluster === NOTIFY_ONLY); i++) await new Promise((res) => setTimeout(res, 50));
    const message = chat.received.find((m) => m.cluster === NOTIFY_ONLY);
    assert.ok(message, 'the notify URL received the alert');
    assert.equal(message.kind, 'alert');
    assert.match(String(message.text), new RegExp(NOTIFY_ONLY));
  });

  test('Grafana may PUT, and sign in X-Grafana-Alert-Signature (its code) or X-Grafana-Alerting-Signature (its docs)', async () => {
    const body = JSON.stringify(grafanaPayload(GRAFANA_PUT));
    const { 'x-grafana-alerting-signature': signature, 'x-grafana-alerting-signature-timestamp': ts } = grafanaHeaders(body);
    const headers = { 'x-grafana-alert-signature': signature!, 'x-grafana-alerting-signature-timestamp': ts! };
    const r = await post(body, headers, '/grafana', 'PUT');
    assert.equal(r.status, 202);
    assert.equal(r.body.workflows[0].started, true);
    assert.equal(r.body.workflows[0].workflowId, `recover/${GRAFANA_PUT}`);
    const wrong = await post(body, { ...headers, 'x-grafana-alert-signature': signature!.replace(/^./, (c) => (c === '0' ? '1' : '0')) });
    assert.equal(wrong.status, 401);
  });

  test("Grafana's contact point test is answered 200 'test received' and starts nothing", async () => {
    // The shape of Grafana's default test notification: no cluster label.
    const calls = async () =>
      (await metric('polar_webhook_temporal_calls_total', '{call="describe"}')) +
      (await metric('polar_webhook_temporal_calls_total', '{call="start"}'));
    const before = await calls();
    const testAlert = {
      ...grafanaPayload('unused'),
      receiver: 'polar-runbook',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'TestAlert', instance: 'Grafana' },
          annotations: { summary: 'Notification test' },
          startsAt: new Date().toISOString(),
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: '57c6d9296de2ad39',
          silenceURL:
            'http://grafana.example/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DTestAlert&matcher=instance%3DGrafana',
          dashboardURL: '',
          panelURL: '',
          values: null,
          valueString: "[ metric='foo' labels={instance=bar} value=10 ]",
        },
      ],
      groupLabels: {},
      commonLabels: { alertname: 'TestAlert', instance: 'Grafana' },
      commonAnnotations: { summary: 'Notification test' },
      title: '[FIRING:1]  (TestAlert Grafana)',
    };
    const body = JSON.stringify(testAlert);
    const r = await post(body, grafanaHeaders(body), '/grafana');
    assert.equal(r.status, 200);
    assert.equal(r.body.result, 'test received');
    assert.equal(await calls(), before, 'nothing was asked of Temporal');
    assert.equal(await metric('polar_webhook_test_notifications_total'), 1);
  });

  test('a body that is not JSON by its Content-Type is refused with 415', async () => {
    const payload = JSON.stringify(alertmanagerPayload(MEDIA));
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const headers: Record<string, string> = bearer();
      if (type) headers['content-type'] = type;
      const r = await fetch(`${base}/alerts`, { method: 'POST', headers, body: type ? payload : new Blob([payload]) });
      assert.equal(r.status, 415, `Content-Type ${type}`);
      assert.match((await r.json()).error, /application\/json/);
    }
    const ok = await post(alertmanagerPayload(MEDIA), { ...bearer(), 'content-type': 'application/json; charset=utf-8' });
    assert.equal(ok.status, 202);
  });

  test('an unreachable Temporal answers 503 so the sender retries', async () => {
    // No retry interceptor: the SDK's leaves retry timers running past a call's deadline, which throw
    // into the test once the connection is closed. The receiver's own deadline and timer bound the
    // answer with or without it (with it, a 1 s requestTimeoutSeconds was answered 503 after 1.0 s by hand).
    const connection = Connection.lazy({ address: `127.0.0.1:${await closedPort()}`, interceptors: [] });
    const offline = createWebhookServer({
      config: configFor('http://127.0.0.1:9/unused', { temporal: { requestTimeoutSeconds: 1 } }),
      client: new Client({ connection }),
      log: () => undefined,
    });
    try {
      const url = await listen(offline);
      const t0 = Date.now();
      const res = await fetch(`${url}/alerts`, {
        method: 'POST',
        headers: { ...bearer(), 'content-type': 'application/json' },
        body: JSON.stringify(alertmanagerPayload(UNAVAILABLE)),
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '10');
      // requestTimeoutSeconds is 1: the answer comes within it (and a margin for the loaded machine).
      assert.ok(Date.now() - t0 < 2500, `answered after ${Date.now() - t0} ms`);
    } finally {
      await close(offline);
      await offline.idle(); // the call the 503 answered for ends at its gRPC deadline
      await connection.close();
    }
    assert.equal(await recoveryExists(UNAVAILABLE), false);
  });

  test('/healthz and /metrics answer; other routes and methods do not', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok\n');

    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    assert.match(text, /^# TYPE polar_webhook_alerts_received_total counter$/m);
    assert.match(text, /^polar_webhook_alerts_received_total\{source="grafana"\} [1-9]/m);
    assert.match(text, /^polar_webhook_alerts_rejected_total\{reason="unauthorized"\} [1-9]/m);
    assert.match(text, /^polar_webhook_alerts_rejected_total\{reason="body_too_large"\} 2$/m);
    assert.match(text, /^polar_webhook_alerts_rejected_total\{reason="unknown_cluster"\} 1$/m);

    assert.equal((await fetch(`${base}/nope`)).status, 404);
    const get = await fetch(`${base}/alerts`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, PUT');
  });

  test('every request was logged as one entry, without any secret', async () => {
    assert.ok(logs.length >= 120);
    for (const entry of logs) assert.equal(typeof entry.status, 'number');
    const all = JSON.stringify(logs);
    for (const secret of [TOKEN, HMAC_SECRET, 'SECRETPATH', ...sentSignatures])
      assert.ok(!all.includes(secret), 'a secret reached the log');
  });
});

describe('notify', () => {
  test('POSTs the event as Slack-compatible JSON', async () => {
    const before = chat.received.length;
    const url = `http://127.0.0.1:${(chat.server.address() as AddressInfo).port}/hook`;
    await notify([url], { kind: 'started', cluster: 'seed', workflowId: 'recover/seed', text: 'recovery of seed started' });
    assert.deepEqual(chat.received.slice(before), [
      { kind: 'started', cluster: 'seed', workflowId: 'recover/seed', text: 'recovery of seed started' },
    ]);
  });

  test('an unreachable or silent URL is logged, never thrown', async () => {
    const silent = createServer(() => undefined); // accepts and never answers
    const silentUrl = await listen(silent);
    const logged: Record<string, unknown>[] = [];
    try {
      const closed = `http://127.0.0.1:${await closedPort()}/services/SECRETPATH`;
      await notify(
        [closed, `${silentUrl}/x`],
        { kind: 'failed', cluster: 'seed', workflowId: 'recover/seed', text: 'x' },
        {
          log: (e) => logged.push(e),
          timeoutMs: 300,
        },
      );
    } finally {
      await close(silent);
    }
    assert.equal(logged.length, 2);
    assert.deepEqual(logged.map((e) => e.error).sort(), ['ECONNREFUSED', 'TimeoutError']);
    assert.ok(!JSON.stringify(logged).includes('SECRETPATH'));
  });
});
