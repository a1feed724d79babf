// The drill history: one JSON line per drill, appended by the worker's recordDrill activity.
import { readFileSync } from 'node:fs';
import { DEFAULT_DRILL_HISTORY, type DrillResult } from '../lib/model/drill.js';

export const drillHistoryPath = (): string => process.env.POLAR_DRILL_HISTORY ?? DEFAULT_DRILL_HISTORY;

/** The drills recorded in `file`, oldest first (by start: drills end, and are appended, out of order); a cluster name keeps only that cluster's. */
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
    .filter((r) => !cluster || r.cluster === cluster)
    .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
}

/** A table, oldest first, under a header. */
export function renderDrillHistory(list: DrillResult[]): string {
  if (!list.length) return 'no drills recorded';
  const rows = [
    ['STARTED', 'CLUSTER', 'OUTCOME', 'RTO', 'DRILL', 'TRIGGER', 'WORKFLOW', 'ERROR'],
    ...list.map((r) => [
      r.startedAt,
      r.cluster,
      r.outcome,
      r.rtoMs === undefined ? '-' : `${(r.rtoMs / 1000).toFixed(1)} s`,
      `${(r.durationMs / 1000).toFixed(1)} s`,
      r.trigger,
      r.workflowId,
      r.error ? `${r.errorType ? `${r.errorType}: ` : ''}${r.error}` : '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
