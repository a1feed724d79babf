// Pure parsing of what alerting systems POST: Alertmanager v4 and Grafana unified alerting webhooks,
// and a minimal generic {cluster} document for scripts and other monitors.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Source } from './metrics.js';

export type AlertStatus = 'firing' | 'resolved';

export interface NormalizedAlert {
  source: Source;
  status: AlertStatus;
  fingerprint: string;
  labels: Record<string, string>;
  startsAt: string;
  /**
   * The alert instance: source + fingerprint + startsAt (a generic document's explicit `id`).
   * Repeats of one firing share it; a new firing after a resolve has a new startsAt, so a new key.
   */
  incident: string;
}

/** The body is JSON but not a payload we understand; the message says what is wrong. */
export class PayloadError extends Error {
  override name = 'PayloadError';
}

/**
 * The label (a generic document: its `action` field) by which an alert asks for a runbook:
 * `failover` (the shared storage is lost: failover/<cluster>, under the cluster's failover policy)
 * or `recover` (the default when absent: recover/<cluster>). Any other value is not acted on.
 */
export const ACTION_LABEL = 'polar_runbook_action';

const status = z.enum(['firing', 'resolved']);
const stringMap = z.record(z.string(), z.string());

// Not strict: both senders add fields over time (Grafana: values, silenceURL, dashboardURL, ...).
const alert = z.object({
  status,
  labels: stringMap,
  annotations: stringMap.optional(),
  startsAt: z.string().min(1),
  endsAt: z.string().optional(),
  fingerprint: z.string().min(1).optional(),
});
const alertsPayload = z.object({ status: status.optional(), alerts: z.array(alert) });
const genericPayload = z.object({
  cluster: z.string().min(1),
  id: z.string().min(1).max(256).optional(),
  status: status.default('firing'),
  fingerprint: z.string().min(1).optional(),
  startsAt: z.string().min(1).optional(),
  /** `failover`: the shared storage is lost (triage.ts ACTION_LABEL); default: a recovery. */
  action: z.enum(['recover', 'failover']).optional(),
});

/** Alertmanager's own fingerprint is a hash of the label set; do the same when a sender omits it. */
const labelsFingerprint = (labels: Record<string, string>): string =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
    .digest('hex')
    .slice(0, 16);

function validated<T>(schema: z.ZodType<T>, doc: unknown, kind: string): T {
  const r = schema.safeParse(doc);
  if (r.success) return r.data;
  const problems = r.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(payload)'}: ${i.message}`);
  throw new PayloadError(`invalid ${kind} payload: ${problems.join('; ')}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function sourceOf(doc: Record<string, unknown>): Source {
  if (!('alerts' in doc)) {
    if ('cluster' in doc) return 'generic';
    throw new PayloadError('unrecognized payload: expected an Alertmanager or Grafana webhook (with "alerts") or {"cluster": "<name>"}');
  }
  // Grafana's payload carries orgId; Alertmanager's never does.
  if ('orgId' in doc || doc.version === '1') return 'grafana';
  if (doc.version === '4') return 'alertmanager';
  // The version is not quoted back: error bodies and logs never echo request bytes.
  throw new PayloadError('unsupported alerts payload version: expected Alertmanager "4" or Grafana "1" (or Grafana\'s orgId)');
}

const incidentKey = (source: Source, fingerprint: string, startsAt: string): string => JSON.stringify([source, fingerprint, startsAt]);

/**
 * Grafana's contact point "Test" button: one firing alert `alertname="TestAlert"`, `instance="Grafana"`,
 * without the cluster label (Grafana's default test alert; a custom test that sets the cluster label is
 * treated as the real alert it describes).
 */
export function isGrafanaTest(alerts: NormalizedAlert[], clusterLabel: string): boolean {
  return (
    alerts.length > 0 &&
    alerts.every((a) => a.source === 'grafana' && a.labels.alertname === 'TestAlert' && a.labels[clusterLabel] === undefined)
  );
}

/**
 * The alerts in a webhook body. `clusterLabel` is the label that names the cluster; a generic
 * payload's `cluster` becomes that label so every source is routed the same way.
 */
export function parseAlerts(doc: unknown, clusterLabel: string, now: Date = new Date()): NormalizedAlert[] {
  if (!isObject(doc)) throw new PayloadError('payload must be a JSON object');
  const source = sourceOf(doc);
  if (source === 'generic') {
    const g = validated(genericPayload, doc, 'generic');
    const labels = { [clusterLabel]: g.cluster, ...(g.action && { [ACTION_LABEL]: g.action }) };
    const fingerprint = g.fingerprint ?? labelsFingerprint(labels);
    const startsAt = g.startsAt ?? now.toISOString();
    // Without an id or a startsAt every delivery is an incident of its own (a script's "recover now").
    const incident = g.id !== undefined ? JSON.stringify([source, 'id', g.id]) : incidentKey(source, fingerprint, startsAt);
    return [{ source, status: g.status, fingerprint, labels, startsAt, incident }];
  }
  const p = validated(alertsPayload, doc, source === 'grafana' ? 'Grafana' : 'Alertmanager');
  return p.alerts.map((a) => {
    const fingerprint = a.fingerprint ?? labelsFingerprint(a.labels);
    return {
      source,
      status: a.status,
      fingerprint,
      labels: a.labels,
      startsAt: a.startsAt,
      incident: incidentKey(source, fingerprint, a.startsAt),
    };
  });
}
