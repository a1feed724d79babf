// The drill history: one JSON line per drill, appended by the worker's recordDrill activity.
import { readFileSync } from 'node:fs';
import { DEFAULT_DRILL_HISTORY, type DrillResult } from '../common/drill.js';

export const drillHistoryPath = (): string => process.env.POLAR_DRILL_HISTORY ?? DEFAULT_DRILL_HISTORY;

/** The drills recorded in `file`, oldest first; a cluster name keeps only that cluster's. */
export function readDrillHistory(file = drillHistoryPath(), cluster?: string): DrillResult[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as DrillResult)
    .filter((r) => !cluster || r.cluster === cluster);
}

export function renderDrillHistory(list: DrillResult[]): string {
  if (!list.length) return 'no drills recorded';
  return list
    .map((r) =>
      [
        r.startedAt,
        r.cluster.padEnd(16),
        r.outcome.padEnd(9),
        r.rtoMs === undefined ? 'RTO -' : `RTO ${(r.rtoMs / 1000).toFixed(1)} s`,
        `drill ${(r.durationMs / 1000).toFixed(1)} s`,
        r.trigger,
        r.workflowId,
        r.error ? `(${r.error})` : '',
      ]
        .filter(Boolean)
        .join('  '),
    )
    .join('\n');
}
