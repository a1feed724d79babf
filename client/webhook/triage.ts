// Which cluster each firing alert is about, and what the allowlist says to do with it.
import type { Policy } from './config.js';
import type { NormalizedAlert } from './payload.js';

export interface ClusterAlerts {
  policy: Policy;
  /** The first firing alert for the cluster: the one recorded in the workflow memo. */
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

export function triage(alerts: NormalizedAlert[], clusters: Map<string, Policy>, clusterLabel: string): Triage {
  const t: Triage = { known: new Map(), unknown: [], firing: 0, resolved: 0 };
  for (const alert of alerts) {
    if (alert.status === 'resolved') {
      // A recovery is never undone by a resolve: the hosts are gone either way.
      t.resolved++;
      continue;
    }
    t.firing++;
    const cluster = alert.labels[clusterLabel] ?? '';
    const policy = clusters.get(cluster);
    if (!policy) {
      t.unknown.push(cluster);
      continue;
    }
    const seen = t.known.get(cluster);
    if (seen) seen.count++;
    else t.known.set(cluster, { policy, alert, count: 1 });
  }
  return t;
}
