// The webhook's second runbook: an alert labelled polar_runbook_action=failover (the shared storage
// is lost) starts failover/<cluster> under the cluster's failover policy (approve unless the config
// says otherwise), never a recovery; repeats of it start one failover; notify-only starts nothing;
// an action the receiver does not know is not acted on. Real Temporal dev server, no worker: what
// is checked is what reaches Temporal (which workflow, with which input and memo).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { failoverWorkflowId, recoveryWorkflowId, type RecoverInput } from '../lib/model/input.js';
import { ConfigError, parseConfig } from '../client/webhook/config.js';
import { createWebhookServer } from '../client/webhook/server.js';
import { ACTION_LABEL } from '../client/webhook/triage.js';
import { startTemporal } from './helpers/temporal.js';

const run = randomBytes(4).toString('hex');
const TOKEN = `token-${randomBytes(16).toString('hex')}`;
const c = (name: string) => `fo-${name}-${run}`;
const DEFAULT = c('default');
const AUTO = c('auto');
const NOTIFY = c('notify');
const DEDUP = c('dedup');
const GENERIC = c('generic');
const ODD = c('odd');
const ALL = [DEFAULT, AUTO, NOTIFY, DEDUP, GENERIC, ODD];

let env: TestWorkflowEnvironment;
let receiver: Server;
let base: string;
const chat: { server: Server; received: { text?: string }[] } = { server: createServer(), received: [] };

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

/** Alertmanager's shape; `action` goes into the alert's labels. */
const alert = (cluster: string, action?: string, fingerprint = `am-${cluster}-${action ?? 'none'}`) => {
  const labels = { alertname: 'PolarDBStorageLost', cluster, severity: 'critical', ...(action && { [ACTION_LABEL]: action }) };
  return {
    receiver: 'polar-runbook',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: `the shared storage of ${cluster} is lost` },
        startsAt: '2025-05-01T10:00:00.000Z',
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint,
      },
    ],
    groupLabels: { alertname: 'PolarDBStorageLost' },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    version: '4',
    groupKey: '{}:{alertname="PolarDBStorageLost"}',
    truncatedAlerts: 0,
  };
};

async function post(body: unknown, path = '/alerts') {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function exists(workflowId: string): Promise<boolean> {
  try {
    await env.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}
async function startInput(workflowId: string): Promise<RecoverInput> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return defaultPayloadConverter.fromPayload(history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!);
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
    req.on('data', (d) => (body += d)).on('end', () => (chat.received.push(JSON.parse(body)), res.end('ok')));
  });
  const chatUrl = await listen(chat.server);
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      clusters: {
        [DEFAULT]: 'auto', // recoveries auto; failovers approve, the default
        [AUTO]: { policy: 'approve', failover: 'auto' },
        [NOTIFY]: { policy: 'auto', failover: 'notify-only' },
        [DEDUP]: 'approve',
        [GENERIC]: 'approve',
        [ODD]: 'auto',
      },
      auth: { bearer: { tokenEnv: 'WH_TOKEN' } },
      notify: { urls: [`${chatUrl}/hooks/x`] },
    },
    { WH_TOKEN: TOKEN },
  );
  receiver = createWebhookServer({ config, client: env.client, log: () => {} });
  base = await listen(receiver);
});

after(async () => {
  await Promise.all(
    ALL.flatMap((x) => [recoveryWorkflowId(x), failoverWorkflowId(x)]).map(
      (id) =>
        env.client.workflow
          .getHandle(id)
          .terminate('webhook failover test cleanup')
          .catch(() => undefined), // never started, or already closed
    ),
  );
  await Promise.all([receiver, chat.server].filter(Boolean).map(close));
  await env?.teardown();
});

describe('webhook: failover policy', () => {
  test('the config: failover approve by default, one of auto/approve/notify-only otherwise', () => {
    const cfg = parseConfig(
      { clusters: { a: 'auto', b: { policy: 'notify-only', failover: 'auto' } }, auth: { bearer: { tokenEnv: 'T' } } },
      { T: 'x' },
    );
    assert.equal(cfg.clusters.get('a')!.failover, 'approve');
    assert.deepEqual({ ...cfg.clusters.get('b')! }, { policy: 'notify-only', failover: 'auto', cooldownMs: 0 });
    assert.throws(
      () => parseConfig({ clusters: { a: { policy: 'auto', failover: 'yes' } }, auth: { bearer: { tokenEnv: 'T' } } }, { T: 'x' }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => /^clusters\.a: .*failover\?: a policy/.test(p)),
    );
  });

  test('a storage-lost alert starts failover/<cluster> waiting for approval (the default), not a recovery', async () => {
    const r = await post(alert(DEFAULT, 'failover'));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body.workflows, [
      { cluster: DEFAULT, workflowId: `failover/${DEFAULT}`, started: true, status: 'started', runId: r.body.workflows[0]?.runId },
    ]);
    assert.ok(r.body.workflows[0].runId, 'the run it started');
    assert.deepEqual(await startInput(failoverWorkflowId(DEFAULT)), { cluster: DEFAULT, trigger: 'webhook', requireApproval: true });
    const d = await env.client.workflow.getHandle(failoverWorkflowId(DEFAULT)).describe();
    assert.equal(d.type, 'failoverToStandby');
    assert.equal(d.runId, r.body.workflows[0].runId);
    const memo = d.memo as { alert: { labels: Record<string, string>; fingerprint: string }; incident: string };
    assert.equal(memo.alert.labels[ACTION_LABEL], 'failover');
    assert.equal(memo.alert.fingerprint, `am-${DEFAULT}-failover`);
    assert.ok(memo.incident, 'the incident key is in the memo');
    assert.equal(await exists(recoveryWorkflowId(DEFAULT)), false, 'no recovery was started');
    assert.equal(await metric('polar_webhook_failovers_started_total', `{cluster="${DEFAULT}"}`), 1);
    assert.equal(await metric('polar_webhook_recoveries_started_total', `{cluster="${DEFAULT}"}`), 0);

    // A repeat of the same alert attaches to the running failover.
    const again = await post(alert(DEFAULT, 'failover'));
    assert.equal(again.status, 202);
    assert.equal(again.body.workflows[0].status, 'attached');
    assert.equal(again.body.workflows[0].workflowId, `failover/${DEFAULT}`);
  });

  test('failover: auto starts without approval; the same cluster’s recovery keeps its own policy', async () => {
    const f = await post(alert(AUTO, 'failover'));
    assert.equal(f.status, 202);
    assert.deepEqual(await startInput(failoverWorkflowId(AUTO)), { cluster: AUTO, trigger: 'webhook', requireApproval: false });
    const r = await post(alert(AUTO, 'recover'));
    assert.equal(r.status, 202);
    assert.equal(r.body.workflows[0].workflowId, `recover/${AUTO}`);
    assert.deepEqual(await startInput(recoveryWorkflowId(AUTO)), { cluster: AUTO, trigger: 'webhook', requireApproval: true });
  });

  test('30 concurrent deliveries of one storage-lost alert start one failover', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, () => post(alert(DEDUP, 'failover'))));
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([202]));
    assert.equal(responses.filter((r) => r.body.workflows[0].started).length, 1);
    for (const r of responses) assert.equal(r.body.workflows[0].workflowId, `failover/${DEDUP}`);
    assert.equal(await exists(recoveryWorkflowId(DEDUP)), false);
  });

  test('failover: notify-only posts the alert and starts nothing', async () => {
    const before = chat.received.length;
    const r = await post(alert(NOTIFY, 'failover'));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, { workflows: [], notified: [NOTIFY], ignored: 0 });
    for (let i = 0; chat.received.length === before; i++) {
      assert.ok(i < 100, 'the notification was posted');
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.match(chat.received.at(-1)!.text ?? '', /shared storage is lost \(failover notify-only: no failover started\)/);
    assert.equal(await exists(failoverWorkflowId(NOTIFY)), false);
    assert.equal(await exists(recoveryWorkflowId(NOTIFY)), false);
  });

  test('a generic document with action: failover starts a failover', async () => {
    const r = await post({ cluster: GENERIC, id: 'san-down-1', action: 'failover' });
    assert.equal(r.status, 202);
    assert.equal(r.body.workflows[0].workflowId, `failover/${GENERIC}`);
    assert.deepEqual(await startInput(failoverWorkflowId(GENERIC)), { cluster: GENERIC, trigger: 'webhook', requireApproval: true });
    const bad = await post({ cluster: GENERIC, action: 'promote' });
    assert.equal(bad.status, 400);
  });

  test('an action label the receiver does not know is not acted on: 422', async () => {
    const rejected = await metric('polar_webhook_alerts_rejected_total', '{reason="unknown_action"}');
    const r = await post(alert(ODD, 'failvoer'));
    assert.equal(r.status, 422);
    assert.match(r.body.error, new RegExp(`label "${ACTION_LABEL}" must be recover \\(or absent\\) or failover`));
    assert.equal(r.body.unknownAction, 1);
    assert.equal(JSON.stringify(r.body).includes('failvoer'), false, 'the label value is not quoted back');
    assert.equal(await exists(failoverWorkflowId(ODD)), false);
    assert.equal(await exists(recoveryWorkflowId(ODD)), false);
    assert.equal((await metric('polar_webhook_alerts_rejected_total', '{reason="unknown_action"}')) - rejected, 1);
  });
});
