// registeredCluster: asks the worker whether it knows a cluster by name (its POLAR_CLUSTERS_DIR),
// so a schedule is never created for a cluster every drill of which would then fail. Reads only.
import { specFrom } from './spec-input.js';

export async function registeredCluster(cluster: string): Promise<{ cluster: string; profile: string; nodes: string[] }> {
  const spec = await specFrom({ cluster });
  return { cluster: spec.cluster, profile: spec.profile, nodes: spec.nodes.map((n) => n.name) };
}
