// Step breakdown: groups a run's step records by kind (a step and the role of its node: the
// primary's buildNode is a few config files, a replica's is a clone), and measures what of the
// run's time no step covers (orchestration between steps) and the floor of unavoidable waits.
import type { StepRecord } from '../lib/model/report.js';
import type { ClusterSpec } from '../lib/model/spec.js';

export const KIND_ORDER = [
  'fence',
  'attachStorage shared',
  'startStorageDaemon shared',
  'prepareBinaries',
  'prepareTemplates',
  'buildNode primary',
  'startNode primary',
  'validateSlots',
  'attachStorage standby disk',
  'startStorageDaemon standby disk',
  'buildNode standby',
  'startNode standby',
  'waitStreaming standby',
  'buildNode replica (clone)',
  'startNode replica',
  'waitStreaming replica',
  'verifyData',
];

export function kindOf(spec: ClusterSpec, s: StepRecord): string {
  const role = s.node ? spec.nodes.find((n) => n.name === s.node)?.role : undefined;
  switch (s.step) {
    case 'buildNode':
      return role === 'replica' ? 'buildNode replica (clone)' : `buildNode ${role}`;
    case 'startNode':
    case 'waitStreaming':
      return `${s.step} ${role}`;
    case 'attachStorage':
    case 'startStorageDaemon':
      return `${s.step} ${role === 'standby' ? 'standby disk' : 'shared'}`;
    default:
      return s.step;
  }
}

const t = (iso?: string): number => (iso ? Date.parse(iso) : NaN);

export interface StepAnalysis {
  rtoMs: number;
  /** Per kind: from the first step of that kind starting to the last one ending (parallel ones overlap). */
  kinds: Record<string, number>;
  /** Time inside the run during which no step was running: scheduling, history, workflow tasks. */
  gapMs: number;
  /** Unavoidable waits on the critical path: primary start, then the slowest of (replica clone + start + catch-up) and (standby start + catch-up). */
  floorMs: number;
}

export function analyse(spec: ClusterSpec, steps: StepRecord[], startedAt: number, endedAt: number): StepAnalysis {
  const done = steps.filter((s) => s.startedAt && s.endedAt);
  const kinds: Record<string, number> = {};
  const byKind = new Map<string, StepRecord[]>();
  for (const s of done) {
    const k = kindOf(spec, s);
    byKind.set(k, [...(byKind.get(k) ?? []), s]);
  }
  for (const [k, ss] of byKind) kinds[k] = Math.max(...ss.map((s) => t(s.endedAt))) - Math.min(...ss.map((s) => t(s.startedAt)));

  // Union of the step intervals, clipped to the run.
  const iv = done.map((s) => [Math.max(startedAt, t(s.startedAt)), Math.min(endedAt, t(s.endedAt))] as const).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let cur: [number, number] | undefined;
  for (const [a, b] of iv) {
    if (b <= a) continue;
    if (!cur || a > cur[1]) {
      if (cur) covered += cur[1] - cur[0];
      cur = [a, b];
    } else cur[1] = Math.max(cur[1], b);
  }
  if (cur) covered += cur[1] - cur[0];

  const dur = (step: string, node: string) => done.find((s) => s.step === step && s.node === node)?.durationMs ?? 0;
  const primary = spec.nodes.find((n) => n.role === 'primary')!;
  const branches = spec.nodes
    .filter((n) => n.role !== 'primary')
    .map((n) => (n.role === 'replica' ? dur('buildNode', n.name) : 0) + dur('startNode', n.name) + dur('waitStreaming', n.name));
  const floorMs = dur('startNode', primary.name) + Math.max(0, ...branches);

  return { rtoMs: endedAt - startedAt, kinds, gapMs: endedAt - startedAt - covered, floorMs };
}

/** Step records of a report, as durations per step id (for results.json). */
export const durations = (steps: StepRecord[]): Record<string, number> =>
  Object.fromEntries(steps.filter((s) => s.durationMs !== undefined).map((s) => [s.id, s.durationMs!]));

/** [step id, start offset from the run's start, duration] per step, for results.json. */
export const timeline = (steps: StepRecord[], startedAt: number): [string, number, number][] =>
  steps.filter((s) => s.startedAt && s.durationMs !== undefined).map((s) => [s.id, Date.parse(s.startedAt!) - startedAt, s.durationMs!]);
