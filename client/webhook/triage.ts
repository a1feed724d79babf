// Which cluster each firing alert is about, and what the allowlist says to do with it.
import type { ClusterPolicy, Policy } from './config.js';
import type { NormalizedAlert } from './payload.js';

export interface ClusterAlerts {
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
  known: Map<string, ClusterAlerts>;
  /** Cluster label values of firing alerts outside the allowlist ('' when the label is missing). */
  unknown: string[];
  firing: number;
  resolved: number;
}

export function triage(alerts: NormalizedAlert[], clusters: Map<string, ClusterPolicy>, clusterLabel: string): Triage {
  const t: Triage = { known: new Map(), unknown: [], firing: 0, resolved: 0 };
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
    const seen = t.known.get(cluster);
    if (!seen) t.known.set(cluster, { ...c, alert, count: 1 });
    else {
      seen.count++;
      if (Date.parse(alert.startsAt) > Date.parse(seen.alert.startsAt)) seen.alert = alert;
    }
  }
  return t;
}
