// Which cluster each firing alert is about, which runbook it asks for, and what the allowlist says
// to do with it.
import type { ClusterPolicy, Policy } from './config.js';
import { ACTION_LABEL, type NormalizedAlert } from './payload.js';

export { ACTION_LABEL };
export type Runbook = 'recover' | 'failover';

export interface ClusterAlerts {
  runbook: Runbook;
  policy: Policy;
  cooldownMs: number;
  /**
   * The firing alert for the cluster that started last: the incident the delivery is about (an
   * older one in the same group is covered by the recovery of the newer), recorded in the memo.
   */
  alert: NormalizedAlert;
  /** How many firing alerts in this delivery name the cluster. */
  count: number;
}

export interface Triage {
  /** Keyed by `runbookKey(cluster, runbook)`. */
  known: Map<string, ClusterAlerts & { cluster: string }>;
  /** Cluster label values of firing alerts outside the allowlist ('' when the label is missing). */
  unknown: string[];
  firing: number;
  resolved: number;
  /** Firing alerts for an allowlisted cluster whose action label names no runbook (not acted on). */
  unknownAction: number;
}

export const runbookKey = (cluster: string, runbook: Runbook): string => `${runbook}\n${cluster}`;

export function triage(alerts: NormalizedAlert[], clusters: Map<string, ClusterPolicy>, clusterLabel: string): Triage {
  const t: Triage = { known: new Map(), unknown: [], firing: 0, resolved: 0, unknownAction: 0 };
  for (const alert of alerts) {
    if (alert.status === 'resolved') {
      // A recovery is never undone by a resolve: the hosts are gone either way.
      t.resolved++;
      continue;
    }
    t.firing++;
    const cluster = alert.labels[clusterLabel] ?? '';
    const c = clusters.get(cluster);
    if (!c) {
      t.unknown.push(cluster);
      continue;
    }
    const action = alert.labels[ACTION_LABEL] ?? 'recover';
    if (action !== 'recover' && action !== 'failover') {
      t.unknownAction++;
      continue;
    }
    const key = runbookKey(cluster, action);
    const seen = t.known.get(key);
    if (!seen)
      t.known.set(key, {
        cluster,
        runbook: action,
        policy: action === 'failover' ? c.failover : c.policy,
        cooldownMs: c.cooldownMs,
        alert,
        count: 1,
      });
    else {
      seen.count++;
      if (Date.parse(alert.startsAt) > Date.parse(seen.alert.startsAt)) seen.alert = alert;
    }
  }
  return t;
}
