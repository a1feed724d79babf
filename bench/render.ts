// The markdown summary: one table of figures with their targets, the step breakdown, the machine.
import type { BurstResult } from './burst.js';
import type { Machine } from './machine.js';
import type { ResumeResult } from './resume.js';
import type { PolardbRun } from './polardb.js';
import type { HopsRun } from './hops.js';
import type { ColdStart, ConcurrencyRun, DataRun, FanoutRun, OverheadRun } from './sections.js';
import { KIND_ORDER } from './steps.js';
import { max, median, min, pct, ratio, sec, verdict, type Verdict } from './stats.js';

export interface Results {
  command: string;
  startedAt: string;
  runTag: string;
  config: Record<string, unknown> & { quick: boolean };
  machine: Machine;
  loadAtStart: string;
  loadAtEnd?: string;
  durationSeconds?: number;
  sectionSeconds?: Record<string, number>;
  inProcessWorkerCreateMs?: number;
  overhead?: { warmupMs: number; runs: OverheadRun[] };
  fanout?: FanoutRun[];
  concurrency?: ConcurrencyRun[];
  dataSize?: { runs: DataRun[]; createMs: Record<number, number> };
  resume?: ResumeResult[];
  coldStart?: ColdStart[];
  burst?: BurstResult;
  polardb?: { runs: PolardbRun[] };
  hops?: HopsRun[];
  errors: Record<string, string>;
  cleanupProblems?: string[];
}

type Row = [string, string, string, Verdict | ''];
const n = (xs: unknown[]) => (xs.length === 1 ? '1 run' : `median of ${xs.length}`);

function figures(r: Results): Row[] {
  const rows: Row[] = [];
  const failed = (name: string) => r.errors[name] && rows.push([name, `FAILED: ${r.errors[name]!.split('\n')[0]}`, '', 'MISS']);

  if (r.overhead) {
    const a = r.overhead.runs.filter((x) => x.mode === 'a');
    const b = r.overhead.runs.filter((x) => x.mode === 'b');
    const [ma, mb] = [median(a.map((x) => x.wallMs)), median(b.map((x) => x.wallMs))];
    const serial = median(a.map((x) => Object.values(x.steps).reduce((s, d) => s + d, 0)));
    const how = r.config.serialA ? 'every node one after the other (--serial-a)' : "the workflow's critical-path schedule";
    rows.push([`overhead (a) plain script, same activities, ${how}, ${n(a)}`, `${sec(ma)} (sum of all steps: ${sec(serial)})`, '', '']);
    rows.push([
      `overhead (b) recoverCluster, warm worker, ${n(b)}`,
      `${sec(mb)} client wall (workflow RTO ${sec(median(b.map((x) => x.rtoMs)))})`,
      '',
      '',
    ]);
    rows.push(['overhead ratio b/a', ratio(mb / ma), '<= 1.15', verdict(mb / ma <= 1.15)]);
  } else failed('overhead');

  if (r.fanout) {
    const counts = [...new Set(r.fanout.map((x) => x.replicas))];
    for (const k of counts) {
      const xs = r.fanout.filter((x) => x.replicas === k);
      const m = median(xs.map((x) => x.rtoMs));
      const plain = median(xs.map((x) => x.plainRtoMs ?? NaN));
      const isTarget = k === Math.max(...counts);
      rows.push([
        `fan-out: RTO with ${k} replica${k > 1 ? 's' : ''} (${n(xs)}): recoverCluster / a plain script running the same clones in parallel`,
        `${sec(m)} / ${sec(plain)} (${ratio(m / plain)})`,
        isTarget ? '<= 1.15x of the plain script' : '',
        isTarget ? verdict(Number.isNaN(m / plain) ? undefined : m / plain <= 1.15) : '',
      ]);
    }
  } else failed('fanout');

  if (r.concurrency) {
    const most = Math.max(...r.concurrency.map((c) => c.labs));
    for (const c of r.concurrency) {
      const ok = c.failed.length === 0 && c.rtoMs.length === c.labs;
      rows.push([
        `concurrency: ${c.labs} lab${c.labs > 1 ? 's' : ''} at once, one worker`,
        `${c.rtoMs.length}/${c.labs} recovered, wall ${sec(c.wallMs)}, RTO min/median/max ${sec(min(c.rtoMs))} / ${sec(median(c.rtoMs))} / ${sec(max(c.rtoMs))}`,
        c.labs === most ? `all ${c.labs} complete${most < 8 ? ' (8 in the full run)' : ''}` : 'all complete',
        verdict(ok),
      ]);
    }
  } else failed('concurrency');

  if (r.polardb) {
    const of = (mode: PolardbRun['mode']) => r.polardb!.runs.filter((x) => x.mode === mode);
    const raw = median(of('raw').map((x) => x.rtoMs));
    const wf = median(of('workflow').map((x) => x.rtoMs));
    rows.push(
      [
        `polardb stand-ins (pfsd start sleeps 1 s, real initdb and PostgreSQL): the seed's commands run raw, in its order (${n(of('raw'))})`,
        sec(raw),
        '',
        '',
      ],
      [`polardb stand-ins: recoverCluster, polardb profile, template cache empty (new hosts) (${n(of('workflow'))})`, sec(wf), '', ''],
      ['polardb stand-ins: RTO / raw', ratio(wf / raw), '<= 0.5', verdict(Number.isNaN(wf / raw) ? undefined : wf / raw <= 0.5)],
      [
        `polardb stand-ins: recoverCluster, template cache kept from the run before (${n(of('workflow-warm'))}); / raw`,
        `${sec(median(of('workflow-warm').map((x) => x.rtoMs)))}; ${ratio(median(of('workflow-warm').map((x) => x.rtoMs)) / raw)}`,
        '',
        '',
      ],
    );
  } else failed('polardb');

  if (r.resume) {
    const label = (point: string) =>
      point === 'primary-start' ? 'the primary start (startNode pb1)' : 'the replica clone (buildNode pb2, 256 MB)';
    for (const mode of [...new Set(r.resume.map((x) => x.mode ?? 'restart'))]) {
      for (const point of [...new Set(r.resume.map((x) => x.point))]) {
        const xs = r.resume.filter((x) => x.point === point && (x.mode ?? 'restart') === mode);
        if (!xs.length) continue;
        const k2r = median(xs.map((x) => x.killToRetryStartMs ?? NaN));
        rows.push([
          `resume after SIGKILL at ${label(point)}, ${mode === 'restart' ? 'worker restarted at once' : 'a second worker already polling'} (${n(xs)}): kill -> retry of the interrupted step starts`,
          `${sec(k2r)} (attempt ${xs.map((x) => x.retryAttempt ?? '?').join('/')}); -> next step done ${sec(median(xs.map((x) => x.latencyMs)))}, interrupted step done ${sec(median(xs.map((x) => x.interruptedDoneMs ?? NaN)))} (it had run ${sec(median(xs.map((x) => x.ranBeforeKillMs ?? NaN)))}; interrupted work remaining ${sec(median(xs.map((x) => x.remainingMs ?? NaN)))})`,
          '<= 3 s',
          verdict(Number.isNaN(k2r) ? undefined : k2r <= 3000),
        ]);
      }
    }
    const starts = r.resume.flatMap((x) => (x.workerStartMs === undefined ? [] : [x.workerStartMs]));
    if (starts.length)
      rows.push([
        `resume: the restarted worker's start, spawn -> polling (${starts.length} starts right after a kill, beside the recovery's own work)`,
        `median ${sec(median(starts))}, max ${sec(max(starts))}`,
        '',
        '',
      ]);
  } else failed('resume');

  if (r.coldStart) {
    const xs = r.coldStart;
    const m = median(xs.map((x) => x.wallMs));
    rows.push([
      `worker cold start (node dist/workers/worker.js, prebuilt bundle): spawn -> pollers started (state RUNNING), ${xs.length} starts, nothing else running in the bench; the worker's own count from its process start; CPU used by then`,
      `median ${sec(m)}, max ${sec(max(xs.map((x) => x.wallMs)))}; own count median ${sec(median(xs.flatMap((x) => x.selfReportedMs ?? [])))}; CPU median ${sec(median(xs.flatMap((x) => x.cpuMs ?? [])))} (load ${xs.map((x) => x.load.split(' ')[0]).join(', ')})`,
      '<= 1 s',
      verdict(m <= 1000),
    ]);
  } else failed('coldstart');

  if (r.dataSize) {
    const sizes = [...new Set(r.dataSize.runs.map((x) => x.dataMb))].sort((a, b) => a - b);
    const pick = (mb: number, f: (x: DataRun) => number) => median(r.dataSize!.runs.filter((x) => x.dataMb === mb).map(f));
    for (const mb of sizes) {
      const xs = r.dataSize.runs.filter((x) => x.dataMb === mb);
      rows.push([
        `data ${mb >= 1024 ? `${mb / 1024} GB` : `${mb} MB`} (database ${median(xs.map((x) => x.dbMb))} MB; ${n(xs)}): RTO / primary rebuild (build+start pb1) / replica clone / verify`,
        `${sec(pick(mb, (x) => x.rtoMs))} / ${sec(pick(mb, (x) => x.primaryRebuildMs))} / ${sec(pick(mb, (x) => x.cloneMs))} / ${sec(pick(mb, (x) => x.verifyMs))}`,
        '',
        '',
      ]);
    }
    if (sizes.length >= 2) {
      const [lo, hi] = [sizes[0]!, sizes[sizes.length - 1]!];
      const [a, b] = [pick(lo, (x) => x.primaryRebuildMs), pick(hi, (x) => x.primaryRebuildMs)];
      rows.push([
        `primary rebuild, ${hi} MB vs ${lo} MB`,
        `${b - a >= 0 ? '+' : ''}${sec(b - a)} (${ratio(b / a)})`,
        'independent of data size: within 25 % or 0.3 s',
        verdict(Math.abs(b - a) <= Math.max(0.25 * a, 300)),
      ]);
    } else rows.push(['primary rebuild vs data size', 'needs two sizes (not in --quick)', 'within 25 % or 0.3 s', 'n/a']);
  } else failed('datasize');

  if (r.burst) {
    const b = r.burst;
    const others = Object.entries(b.statuses)
      .filter(([s]) => s !== '202')
      .map(([s, k]) => `${k} x ${s === '0' ? 'no answer' : s}`);
    rows.push([
      `webhook burst: ${b.alerts} concurrent deliveries of one alert for one cluster (recovery running, warm dev server): 202s / p50 / p99 / max latency / Temporal calls`,
      `${b.accepted}/${b.alerts}${others.length ? ` (${others.join(', ')})` : ''} / ${sec(b.p50Ms)} / ${sec(b.p99Ms)} / ${sec(b.maxMs)} / ${b.temporalCalls} calls (wall ${sec(b.wallMs)}; receiver's own p50/p99 ${sec(b.serverP50Ms)} / ${sec(b.serverP99Ms)})`,
      `all 202, each within requestTimeoutSeconds (${b.requestTimeoutSeconds} s)`,
      verdict(b.accepted === b.alerts && b.maxMs <= b.requestTimeoutSeconds * 1000),
    ]);
  } else failed('burst');

  if (r.hops) {
    for (const h of r.hops) {
      const later = h.runs.slice(1).flat();
      rows.push([
        `Temporal's own cost of a step (empty activities, ${h.runs[0]?.length ?? 0} in a row, ${h.runs.length} runs), dev server ${h.tuned ? 'with lib/server-tuning.ts' : 'with its defaults'}: first run / the runs after it, median (max)`,
        `${ms(median(h.runs[0] ?? []))} / ${ms(median(later))} (${ms(max(later))})`,
        '',
        '',
      ]);
    }
  } else failed('hops');
  return rows;
}

const ms = (x: number): string => `${Math.round(x)} ms`;

function breakdown(r: Results): string[] {
  if (!r.overhead) return [];
  const a = r.overhead.runs.filter((x) => x.mode === 'a');
  const b = r.overhead.runs.filter((x) => x.mode === 'b');
  if (!b.length) return [];
  const rto = median(b.map((x) => x.rtoMs));
  const kinds = KIND_ORDER.filter((k) => b.some((x) => x.analysis.kinds[k] !== undefined));
  const lines = [
    `Step breakdown (recoverCluster runs of the overhead section, ${n(b)}; 1 replica + standby; parallel steps overlap, so shares add up to more than 100 %):`,
    '',
    '| step kind | (b) workflow | share of RTO | (a) plain script | b - a |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const k of kinds) {
    const mb = median(b.map((x) => x.analysis.kinds[k] ?? NaN));
    const ma = median(a.map((x) => x.analysis.kinds[k] ?? NaN));
    lines.push(`| ${k} | ${sec(mb)} | ${pct(mb / rto)} | ${sec(ma)} | ${sec(mb - ma)} |`);
  }
  const ib = median(b.map((x) => x.idleMs));
  const ia = median(a.map((x) => x.idleMs));
  const wall = median(b.map((x) => x.wallMs));
  lines.push(
    `| *orchestration: of the client wall time, no activity executing (b: from the history)* | ${sec(ib)} | ${pct(ib / wall)} of wall | ${sec(ia)} | ${sec(ib - ia)} |`,
  );
  const fb = median(b.map((x) => x.analysis.floorMs));
  const fa = median(a.map((x) => x.analysis.floorMs));
  lines.push(
    `| **floor**: unavoidable waits (postgres start of pb1, then the slower of replica clone + start + catch-up and standby start + catch-up) | ${sec(fb)} | ${pct(fb / rto)} | ${sec(fa)} | ${sec(fb - fa)} |`,
  );
  lines.push(`| **RTO** (trigger to verified) | ${sec(rto)} | 100 % | ${sec(median(a.map((x) => x.rtoMs)))} | |`);
  const hops = b.flatMap((x) => (x.hops ? [x.hops] : []));
  if (hops.length)
    lines.push(
      '',
      `Per hop (history of the b runs): ${median(hops.map((h) => h.activities))} activities, activity scheduled -> started median ` +
        `${median(hops.flatMap((h) => h.activityQueueMs)).toFixed(0)} ms; ${median(hops.map((h) => h.workflowTasks))} workflow tasks, ` +
        `scheduled -> completed median ${median(hops.flatMap((h) => h.workflowTaskMs)).toFixed(0)} ms (max ${max(hops.flatMap((h) => h.workflowTaskMs)).toFixed(0)} ms).`,
    );
  return lines;
}

/** Where the polardb runs' time goes: each workflow step's start and length, each raw command's time. */
function polardbSteps(r: Results): string[] {
  if (!r.polardb) return [];
  const of = (mode: PolardbRun['mode']) => r.polardb!.runs.filter((x) => x.mode === mode);
  const [cold, warm, raw] = [of('workflow'), of('workflow-warm'), of('raw')];
  const at = (runs: PolardbRun[], id: string, i: 1 | 2) =>
    median(runs.flatMap((x) => x.timeline?.filter((t) => t[0] === id).map((t) => t[i]) ?? []));
  const ids = [...new Set([...cold, ...warm].flatMap((x) => x.timeline?.map((t) => t[0]) ?? []))].sort(
    (a, b) => at(warm, a, 1) - at(warm, b, 1) || at(cold, a, 1) - at(cold, b, 1),
  );
  if (!ids.length) return [];
  const lines = [
    `polardb stand-ins, where the time goes: recoverCluster's steps (start from the run's start, and length; ${n(cold)} cold, ${n(warm)} warm), by start in the warm runs:`,
    '',
    '| step | cold: starts at | cold: takes | warm: starts at | warm: takes |',
    '|---|---:|---:|---:|---:|',
    ...ids.map((id) => `| ${id} | ${sec(at(cold, id, 1))} | ${sec(at(cold, id, 2))} | ${sec(at(warm, id, 1))} | ${sec(at(warm, id, 2))} |`),
    `| **RTO** | | ${sec(median(cold.map((x) => x.rtoMs)))} | | ${sec(median(warm.map((x) => x.rtoMs)))} |`,
  ];
  if (raw.length) {
    // The seed runs some commands twice (one per node or disk): their times are added up per run.
    const names = [...new Set(raw.flatMap((x) => x.steps.map(([name]) => name)))];
    const total = (x: PolardbRun, name: string) => x.steps.filter(([s]) => s === name).reduce((acc, [, ms]) => acc + ms, 0);
    const times = (name: string) => raw[0]!.steps.filter(([s]) => s === name).length;
    lines.push(
      '',
      `The seed's commands run raw (${n(raw)}), one after the other; a command the seed runs more than once is added up:`,
      '',
      '| command | times | takes |',
      '|---|---:|---:|',
      ...names.map((name) => `| ${name} | ${times(name)} | ${sec(median(raw.map((x) => total(x, name))))} |`),
      `| **RTO** | | ${sec(median(raw.map((x) => x.rtoMs)))} |`,
    );
  }
  return lines;
}

export function render(r: Results): string {
  const m = r.machine;
  const out = [
    `### Benchmark${r.config.quick ? ' (--quick: 3 overhead runs, fewer runs elsewhere, no 1 GB, concurrency 1 and 4)' : ''}`,
    '',
    '| figure | measured | target | |',
    '|---|---|---|---|',
    ...figures(r).map((row) => `| ${row.join(' | ')} |`),
    '',
    ...breakdown(r),
    '',
    ...polardbSteps(r),
    '',
    `Machine: ${m.nproc} cores (${m.cpuModel}), ${m.memGiB} GiB RAM, ${m.kernel}; Node ${m.node}; ${m.temporal}; ${m.postgres}. ` +
      `Load average (1/5/15 min) at start ${r.loadAtStart}, at end ${r.loadAtEnd ?? '?'}. ` +
      `Duration ${r.durationSeconds === undefined ? '?' : `${Math.floor(r.durationSeconds / 60)} min ${r.durationSeconds % 60} s`}.`,
    '',
    `Command: \`${r.command}\` (${r.startedAt}); raw figures in bench/results.json.`,
  ];
  if (r.cleanupProblems?.length) out.push('', `Cleanup problems: ${r.cleanupProblems.join('; ')}`);
  return out.join('\n');
}
