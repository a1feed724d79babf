// The alert webhook receiver: authenticated alert deliveries in, at most one recovery per cluster at a
// time and at most one per incident ever out. An alert labelled polar_runbook_action=failover (the
// shared storage is lost) asks for failover/<cluster> instead, under the cluster's failover policy.
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Client } from '@temporalio/client';
import { notify } from '../../lib/notify.js';
import { authenticate } from './auth.js';
import type { WebhookConfig } from './config.js';
import type { Log } from './log.js';
import { Answer, Decision, Incidents, TemporalBusy } from './incidents.js';
import { WebhookMetrics } from './metrics.js';
import { isGrafanaTest, parseAlerts, PayloadError } from './payload.js';
import { ACTION_LABEL, ClusterAlerts, triage } from './triage.js';

export interface WebhookServerOptions {
  config: WebhookConfig;
  client: Client;
  log: Log;
}

type Entry = Record<string, unknown>;

/**
 * listen() backlog: a burst of alerts opens many connections at once; with Node's default (511) the
 * kernel drops the SYNs beyond it and the senders retry them only after 1 s, 3 s, ... (capped by somaxconn).
 */
export const LISTEN_BACKLOG = 4096;

const ALERT_PATHS = new Set(['/alerts', '/alertmanager', '/grafana']);
const TOO_LARGE = Symbol('too large');

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads the body up to `limit` bytes; past that it stops reading, so a huge body is never buffered. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | typeof TOO_LARGE> {
  if (Number(req.headers['content-length']) > limit) return Promise.resolve(TOO_LARGE);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => req.off('data', onData).off('end', onEnd).off('error', reject).off('close', onClose);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      done();
      req.pause();
      resolve(TOO_LARGE);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onClose = () => {
      done();
      reject(new Error('client closed the connection before the body was complete'));
    };
    req.on('data', onData).on('end', onEnd).on('error', reject).on('close', onClose);
  });
}

// gRPC status codes meaning "Temporal did not answer in time or would not now": worth a retry by the
// sender. grpc-js reports a deadline that passes mid-call as CANCELLED, so that one counts too.
const RETRYABLE_GRPC = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 14 /* UNAVAILABLE */]);
function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof TemporalBusy) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number' && RETRYABLE_GRPC.has(code)) return true;
  }
  return false;
}

/** JSON, as Alertmanager and Grafana send it (`application/json`, or a `+json` type). */
const isJson = (contentType: string | undefined): boolean => /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(contentType?.trim() ?? '');

/** Where JSON.parse gave up, without the piece of the body V8 quotes in its message. */
const jsonProblem = (e: SyntaxError): string => {
  const at = /position (\d+)/.exec(e.message)?.[1];
  return at === undefined ? 'body is not valid JSON' : `body is not valid JSON (at byte offset ${at})`;
};

/** Rejects at `deadline` (epoch ms) unless `p` settled before. */
function before<T>(deadline: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TemporalBusy('no answer from Temporal within requestTimeoutSeconds')), deadline - Date.now());
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function failureText(cluster: string, a: Extract<Answer, { status: 'failed' }>, runbook: 'recover' | 'failover' = 'recover'): string {
  const at = a.step ? ` at step ${a.step}` : '';
  const type = a.failureType ? ` (${a.failureType})` : '';
  const what = runbook === 'failover' ? 'Failover to the standby' : 'Recovery';
  return `${what} of ${cluster} failed${at}${type}: ${a.message}. It waits for an operator; repeats of this alert do not retry it.`;
}

export interface WebhookServer extends Server {
  /**
   * Resolves once no call to Temporal is in flight. An answer (a 503 at requestTimeoutSeconds) may
   * leave one running until its gRPC deadline: wait for this before closing the Temporal connection.
   */
  idle(): Promise<void>;
}

export function createWebhookServer({ config, client, log }: WebhookServerOptions): WebhookServer {
  const metrics = new WebhookMetrics();
  const incidents = new Incidents({
    client,
    namespace: config.temporal.namespace,
    maxConcurrentCalls: config.temporal.maxConcurrentCalls,
    onCall: (call) => metrics.temporalCalls.inc(call),
    onFailedRepeat: ({ cluster, workflowId, answer }) => {
      if (answer.status !== 'failed') return;
      const { runId, step, failureType } = answer;
      const text = failureText(cluster, answer, workflowId.startsWith('failover/') ? 'failover' : 'recover');
      // Not awaited: the sender gets its answer without waiting on chat services.
      void notify(config.notifyUrls, { kind: 'failed', cluster, workflowId, runId, step, failureType, text }, { log });
    },
  });

  async function receiveAlerts(req: IncomingMessage, res: ServerResponse, entry: Entry, t0: number): Promise<void> {
    // The sender has its answer by `answerBy` at the latest (a 503 past it). Every Temporal call of this
    // delivery has a gRPC deadline a little earlier, so normally the call itself gives up first.
    const timeout = config.temporal.requestTimeoutMs;
    const answerBy = t0 + timeout - Math.min(250, timeout * 0.05);
    const deadline = answerBy - Math.min(250, timeout * 0.1);
    if (!isJson(req.headers['content-type'])) {
      metrics.reject('unsupported_media_type');
      return send(res, 415, { error: 'send the alert as JSON (Content-Type: application/json)' }, { connection: 'close' });
    }
    const body = await readBody(req, config.bodyLimitBytes);
    if (body === TOO_LARGE) {
      metrics.reject('body_too_large');
      // Close the connection rather than drain whatever else the sender still has to send.
      return send(res, 413, { error: `body exceeds the limit of ${config.bodyLimitBytes} bytes` }, { connection: 'close' });
    }
    const auth = authenticate(config.auth, req.headers, body, Date.now() / 1000);
    if (!auth.ok) {
      metrics.reject('unauthorized');
      entry.reason = auth.reason;
      const challenge: Record<string, string> = config.auth.bearerToken ? { 'www-authenticate': 'Bearer' } : {};
      return send(res, 401, { error: `unauthorized: ${auth.reason}` }, challenge);
    }
    entry.auth = auth.method;

    let alerts;
    try {
      alerts = parseAlerts(JSON.parse(body.toString('utf8')), config.clusterLabel);
    } catch (e) {
      if (!(e instanceof SyntaxError || e instanceof PayloadError)) throw e;
      metrics.reject('malformed');
      // Neither the answer nor the log quotes the body: it is the sender's, and may hold anything.
      const error = e instanceof SyntaxError ? jsonProblem(e) : e.message;
      entry.reason = error;
      return send(res, 400, { error });
    }
    for (const a of alerts) metrics.received.inc(a.source);
    entry.source = alerts[0]?.source;
    entry.alerts = alerts.length;

    if (isGrafanaTest(alerts, config.clusterLabel)) {
      metrics.tests.inc();
      entry.result = 'test received';
      return send(res, 200, { result: 'test received' });
    }

    const t = triage(alerts, config.clusters, config.clusterLabel);
    if (t.unknown.length) metrics.reject('unknown_cluster', t.unknown.length);
    if (t.unknownAction) metrics.reject('unknown_action', t.unknownAction);
    if (t.firing > 0 && t.known.size === 0 && t.unknownAction > 0) {
      entry.reason = 'unknown action';
      return send(res, 422, {
        error: `no firing alert names a runbook polar-runbook knows: label "${ACTION_LABEL}" must be recover (or absent) or failover`,
        unknownAction: t.unknownAction,
      });
    }
    if (t.firing > 0 && t.known.size === 0) {
      entry.reason = 'unknown cluster';
      entry.unknown = t.unknown.length;
      // The label values are not quoted back (they are request bytes); the count and the label say enough.
      return send(res, 422, {
        error: `no firing alert names an allowlisted cluster in label "${config.clusterLabel}"`,
        unknown: t.unknown.length,
      });
    }

    const notified: string[] = [];
    const toRecover: [string, ClusterAlerts][] = [];
    for (const c of t.known.values()) {
      const { cluster } = c;
      if (c.policy !== 'notify-only') {
        toRecover.push([cluster, c]);
        continue;
      }
      notified.push(cluster);
      const { source, fingerprint } = c.alert;
      const text =
        c.runbook === 'failover'
          ? `Alert firing for cluster ${cluster}: its shared storage is lost (failover notify-only: no failover started)`
          : `Alert firing for cluster ${cluster} (notify-only: no recovery started)`;
      // Not awaited: the sender gets its answer without waiting on chat services.
      void notify(config.notifyUrls, { kind: 'alert', cluster, source, fingerprint, text }, { log });
    }

    let decisions: Decision[];
    try {
      decisions = await before(
        answerBy,
        Promise.all(
          toRecover.map(([cluster, c]) =>
            incidents.decide({
              cluster,
              runbook: c.runbook,
              alert: c.alert,
              requireApproval: c.policy === 'approve',
              cooldownMs: c.cooldownMs,
              deadline,
            }),
          ),
        ),
      );
    } catch (e) {
      if (!isTemporalUnavailable(e)) throw e;
      metrics.reject('temporal_unavailable');
      entry.reason = e instanceof TemporalBusy ? e.message : 'temporal unavailable';
      // 5xx: Alertmanager and Grafana retry the delivery; deciding is idempotent per incident.
      return send(res, 503, { error: 'Temporal is unreachable or busy; retry later' }, { 'retry-after': '10' });
    }
    const workflows = decisions.map(({ cluster, workflowId, started, answer }, i) => {
      const c = toRecover[i]![1];
      const what = c.runbook === 'failover' ? 'failover' : 'recovery';
      if (started) (c.runbook === 'failover' ? metrics.failoversStarted : metrics.recoveriesStarted).inc(cluster);
      metrics.incidents.inc(answer.status, c.count);
      if (answer.status === 'attached' || started) metrics.deduplicated.inc(undefined, started ? c.count - 1 : c.count);
      const text =
        answer.status === 'failed'
          ? failureText(cluster, answer, c.runbook)
          : answer.status === 'completed'
            ? `the ${what} of this incident completed (${answer.outcome ?? 'no outcome recorded'}); nothing started`
            : answer.status === 'cooldown'
              ? `another incident's ${what} ended at ${answer.closedAt}; cooldown until ${answer.until}, nothing started`
              : undefined;
      return { cluster, workflowId, started, ...answer, ...(text && { text }) };
    });
    const ignored = t.resolved + t.unknown.length + t.unknownAction;
    entry.workflows = workflows.map(({ cluster, status, runId }) => ({ cluster, status, runId }));
    Object.assign(entry, { notified, ignored });
    // 202: a recovery runs for the alert; 200: the delivery is handled and nothing runs for it.
    const running = workflows.some((w) => w.status === 'started' || w.status === 'attached') || notified.length > 0;
    send(res, running || workflows.length === 0 ? 202 : 200, { workflows, notified, ignored });
  }

  async function route(req: IncomingMessage, res: ServerResponse, entry: Entry, t0: number): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    // Never the query string (it could carry a credential), nor a path of the sender's choosing.
    entry.path = ALERT_PATHS.has(path) || path === '/healthz' || path === '/metrics' ? path : '(other)';
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/healthz' && get) return send(res, 200, 'ok\n');
    if (path === '/metrics' && get) return send(res, 200, metrics.render(), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    // Grafana's contact point may be set to PUT.
    if (ALERT_PATHS.has(path) && (req.method === 'POST' || req.method === 'PUT')) return receiveAlerts(req, res, entry, t0);
    if (ALERT_PATHS.has(path) || path === '/healthz' || path === '/metrics')
      return send(res, 405, { error: 'method not allowed' }, { allow: ALERT_PATHS.has(path) ? 'POST, PUT' : 'GET, HEAD' });
    send(res, 404, { error: 'not found' });
  }

  const server = createServer((req, res) => {
    const t0 = performance.now();
    const entry: Entry = { method: req.method, remote: req.socket.remoteAddress };
    route(req, res, entry, Date.now())
      .catch((e: Error) => {
        entry.error = e.message;
        if (!res.headersSent) send(res, 500, { error: 'internal error' }, { connection: 'close' });
        else res.destroy();
      })
      .finally(() => log({ msg: 'request', ...entry, status: res.statusCode, ms: Math.round(performance.now() - t0) }));
  });
  return Object.assign(server, { idle: () => incidents.idle() });
}
