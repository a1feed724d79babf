// The alert webhook receiver: authenticated alert deliveries in, at most one recovery per cluster out.
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Client } from '@temporalio/client';
import { startOrAttachRecovery } from '../start-recovery.js';
import { notify } from '../notify.js';
import { authenticate } from './auth.js';
import type { WebhookConfig } from './config.js';
import type { Log } from './log.js';
import { WebhookMetrics } from './metrics.js';
import { NormalizedAlert, parseAlerts, PayloadError } from './payload.js';
import { ClusterAlerts, triage } from './triage.js';

export interface WebhookServerOptions {
  config: WebhookConfig;
  client: Client;
  log: Log;
}

type Entry = Record<string, unknown>;

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

// gRPC status codes meaning "the server could not be reached in time": worth a retry by the sender.
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code === UNAVAILABLE || code === DEADLINE_EXCEEDED) return true;
  }
  return false;
}

export function createWebhookServer({ config, client, log }: WebhookServerOptions): Server {
  const metrics = new WebhookMetrics();

  function recover(cluster: string, requireApproval: boolean, alert: NormalizedAlert) {
    const { source, fingerprint, labels, startsAt } = alert;
    // The deadline bounds the gRPC retries, so an unreachable Temporal becomes a prompt 503.
    return client.withDeadline(Date.now() + config.temporal.requestTimeoutMs, () =>
      startOrAttachRecovery(
        client,
        cluster,
        { cluster, trigger: 'webhook', requireApproval },
        { alert: { source, fingerprint, labels, startsAt } },
      ),
    );
  }

  async function receiveAlerts(req: IncomingMessage, res: ServerResponse, entry: Entry): Promise<void> {
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
      const error = e instanceof SyntaxError ? `body is not valid JSON: ${e.message}` : e.message;
      entry.reason = error;
      return send(res, 400, { error });
    }
    for (const a of alerts) metrics.received.inc(a.source);
    entry.source = alerts[0]?.source;
    entry.alerts = alerts.length;

    const t = triage(alerts, config.clusters, config.clusterLabel);
    if (t.unknown.length) metrics.reject('unknown_cluster', t.unknown.length);
    if (t.firing > 0 && t.known.size === 0) {
      const clusters = [...new Set(t.unknown)];
      entry.reason = 'unknown cluster';
      entry.unknown = clusters;
      return send(res, 422, {
        error: `no firing alert names an allowlisted cluster in label "${config.clusterLabel}"`,
        clusters,
      });
    }

    const notified: string[] = [];
    const toRecover: [string, ClusterAlerts][] = [];
    for (const [cluster, c] of t.known) {
      if (c.policy !== 'notify-only') {
        toRecover.push([cluster, c]);
        continue;
      }
      notified.push(cluster);
      const { source, fingerprint } = c.alert;
      const text = `Alert firing for cluster ${cluster} (notify-only: no recovery started)`;
      // Not awaited: the sender gets its answer without waiting on chat services.
      void notify(config.notifyUrls, { kind: 'alert', cluster, source, fingerprint, text }, { log });
    }

    let workflows;
    try {
      workflows = await Promise.all(
        toRecover.map(async ([cluster, c]) => {
          const { workflowId, started } = await recover(cluster, c.policy === 'approve', c.alert);
          if (started) metrics.recoveriesStarted.inc(cluster);
          metrics.deduplicated.inc(undefined, started ? c.count - 1 : c.count);
          return { cluster, workflowId, started };
        }),
      );
    } catch (e) {
      if (!isTemporalUnavailable(e)) throw e;
      metrics.reject('temporal_unavailable');
      entry.reason = 'temporal unavailable';
      // 5xx: Alertmanager and Grafana retry the delivery; starting is idempotent per cluster.
      return send(res, 503, { error: 'Temporal is unreachable; retry later' }, { 'retry-after': '10' });
    }
    const ignored = t.resolved + t.unknown.length;
    Object.assign(entry, { workflows, notified, ignored });
    send(res, 202, { workflows, notified, ignored });
  }

  async function route(req: IncomingMessage, res: ServerResponse, entry: Entry): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    entry.path = path; // never the query string: it could carry a credential
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/healthz' && get) return send(res, 200, 'ok\n');
    if (path === '/metrics' && get) return send(res, 200, metrics.render(), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    if (ALERT_PATHS.has(path) && req.method === 'POST') return receiveAlerts(req, res, entry);
    if (ALERT_PATHS.has(path) || path === '/healthz' || path === '/metrics')
      return send(res, 405, { error: 'method not allowed' }, { allow: ALERT_PATHS.has(path) ? 'POST' : 'GET, HEAD' });
    send(res, 404, { error: 'not found' });
  }

  return createServer((req, res) => {
    const t0 = performance.now();
    const entry: Entry = { method: req.method, remote: req.socket.remoteAddress };
    route(req, res, entry)
      .catch((e: Error) => {
        entry.error = e.message;
        if (!res.headersSent) send(res, 500, { error: 'internal error' }, { connection: 'close' });
        else res.destroy();
      })
      .finally(() => log({ msg: 'request', ...entry, status: res.statusCode, ms: Math.round(performance.now() - t0) }));
  });
}
