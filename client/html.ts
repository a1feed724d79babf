// Pages people would rather look at than read: one self-contained HTML file each (inline CSS and
// SVG, no script, no external resource), for a mail, a ticket or an audit folder.
//  - reportHtml: a recovery's timeline (a Gantt of its steps: parallel branches side by side,
//    retries marked) and its evidence (what every step verified, the commands it ran).
//  - drillTrendHtml: the RTO of every drill over time, one line per cluster.
import type { DrillResult } from '../lib/model/drill.js';
import type { RecoveryReport, StepRecord } from '../lib/model/report.js';
import type { FailureInfo } from './failure.js';

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const secs = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.sub{color:#5b6473;margin-bottom:16px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;font-size:13px;color:#fff}
.recovered,.already-healthy{background:#1a7f37}.failed,.aborted{background:#cf222e}.refused{background:#9a6700}
.kpi{display:flex;gap:24px;margin:12px 0 4px}.kpi div{background:#f3f5f8;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:18px}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
.grid{stroke:#e3e7ee}.bar.done{fill:#2f81f7}.bar.failed{fill:#cf222e}.bar.running{fill:#9a6700}.bar.retried{stroke:#cf222e;stroke-width:2}
.unchanged{fill-opacity:.45}svg text.retry{fill:#cf222e;font-weight:700}svg text.miss.failed{fill:#cf222e}svg text.miss.refused{fill:#9a6700}
table{border-collapse:collapse;width:100%;margin-top:8px}td,th{border-bottom:1px solid #e3e7ee;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f8}code{font:12px ui-monospace,Menlo,monospace;white-space:pre-wrap;word-break:break-all}
ul{margin:2px 0;padding-left:18px}.fail{border-left:4px solid #cf222e;background:#fff4f4;padding:8px 12px;margin:12px 0}
.legend span{margin-right:16px}.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body>${body}</body></html>
`;
}

/** The Gantt of the steps: one row per step, ordered by start; x is time since the recovery began. */
export function timelineSvg(steps: StepRecord[], startedAt: string, width = 960): string {
  const t0 = Date.parse(startedAt);
  const rows = steps
    .filter((s) => s.startedAt)
    .map((s) => {
      const start = Date.parse(s.startedAt!) - t0;
      const end = s.endedAt ? Date.parse(s.endedAt) - t0 : start + (s.durationMs ?? 0);
      return { s, start: Math.max(0, start), end: Math.max(start, end) };
    })
    .sort((a, b) => a.start - b.start || a.s.id.localeCompare(b.s.id));
  const total = Math.max(1, ...rows.map((r) => r.end));
  const label = 230;
  const plot = width - label - 70;
  const rowH = 22;
  const top = 24;
  const h = top + rows.length * rowH + 10;
  const x = (ms: number) => label + (ms / total) * plot;
  const ticks = niceTicks(total);
  const parts: string[] = [];
  for (const t of ticks)
    parts.push(
      `<line class="grid" x1="${x(t)}" x2="${x(t)}" y1="${top - 6}" y2="${h - 6}"/><text x="${x(t)}" y="${top - 10}" text-anchor="middle">${(t / 1000).toFixed(t < 10_000 ? 1 : 0)} s</text>`,
    );
  rows.forEach(({ s, start, end }, i) => {
    const y = top + i * rowH;
    const retried = (s.attempts ?? 1) > 1;
    const cls = ['bar', s.state, retried ? 'retried' : '', s.changed === false ? 'unchanged' : ''].filter(Boolean).join(' ');
    const w = Math.max(2, x(end) - x(start));
    parts.push(
      `<g class="step" data-step="${esc(s.id)}"><title>${esc(s.id)}: ${esc(s.state)}, ${secs(s.durationMs)}${retried ? `, ${s.attempts} attempts` : ''}${s.error ? ` — ${esc(s.error)}` : ''}</title>` +
        `<text x="${label - 8}" y="${y + 15}" text-anchor="end">${esc(s.id)}</text>` +
        `<rect class="${cls}" x="${x(start).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 7}" rx="3"/>` +
        `<text x="${(x(start) + w + 6).toFixed(1)}" y="${y + 15}">${secs(s.durationMs)}</text>` +
        (retried ? `<text class="retry" x="${(x(start) + w + 60).toFixed(1)}" y="${y + 15}">↻ ${s.attempts} attempts</text>` : '') +
        `</g>`,
    );
  });
  return `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="timeline of the steps">${parts.join('')}</svg>`;
}

function niceTicks(total: number): number[] {
  const raw = total / 6;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = 0; t <= total + 1e-9; t += step) out.push(t);
  return out;
}

export function reportHtml(r: RecoveryReport, failure?: FailureInfo): string {
  const outcome = failure ? 'failed' : r.outcome;
  const retried = r.steps.filter((s) => (s.attempts ?? 1) > 1);
  const body = [
    `<h1>Recovery of cluster ${esc(r.cluster)} <span class="badge ${esc(outcome)}">${esc(outcome.toUpperCase())}</span></h1>`,
    `<div class="sub">workflow ${esc(r.workflowId)} · started ${esc(r.startedAt)}${r.endedAt ? ` · ended ${esc(r.endedAt)}` : ''}</div>`,
    `<div class="kpi"><div>RTO<b>${failure ? '-' : secs(r.rtoMs)}</b></div><div>steps<b>${r.steps.length}</b></div>` +
      `<div>commands run<b>${r.commandsRun}</b></div><div>retried steps<b>${retried.length}</b></div></div>`,
    failure
      ? `<div class="fail"><b>${esc(failure.type)}</b> at ${esc(failure.step ?? '-')}${failure.node ? ` on ${esc(failure.node)}` : ''}: ${esc(failure.cause)}<br>what to do: ${esc(failure.whatToDo ?? 'read the cause; fix it, then start again')}</div>`
      : '',
    `<h2>Timeline</h2>`,
    `<div class="legend"><span><i class="sw" style="background:#2f81f7"></i>done</span><span><i class="sw" style="background:#2f81f7;opacity:.45"></i>nothing to change</span>` +
      `<span><i class="sw" style="background:#cf222e"></i>failed</span><span><i class="sw" style="border:2px solid #cf222e"></i>retried</span></div>`,
    timelineSvg(r.steps, r.startedAt),
    `<h2>Evidence</h2>`,
    `<table><thead><tr><th>step</th><th>state</th><th>time</th><th>verified</th><th>commands</th></tr></thead><tbody>`,
    ...r.steps.map(
      (s) =>
        `<tr><td>${esc(s.id)}</td><td>${esc(s.state)}${(s.attempts ?? 1) > 1 ? ` (${s.attempts} attempts)` : ''}${s.error ? `<br>${esc(s.error)}` : ''}</td>` +
        `<td>${secs(s.durationMs)}</td><td>${s.verified.length ? `<ul>${s.verified.map((v) => `<li>${esc(v)}</li>`).join('')}</ul>` : ''}</td>` +
        `<td>${s.commands.length ? `<ul>${s.commands.map((c) => `<li><code>${esc(c)}</code></li>`).join('')}</ul>` : ''}${s.skipped.length ? `<ul>${s.skipped.map((c) => `<li>skipped: ${esc(c)}</li>`).join('')}</ul>` : ''}</td></tr>`,
    ),
    `</tbody></table>`,
  ].join('\n');
  return page(`Recovery of ${r.cluster}: ${outcome}`, body);
}

const PALETTE = ['#2f81f7', '#8250df', '#1a7f37', '#bf3989', '#0969da', '#9a6700'];

/** The RTO of every drill over time, per cluster: an SVG line per cluster, failed and refused drills marked on the axis. */
export function drillTrendSvg(list: DrillResult[], width = 960, height = 380): string {
  const clusters = [...new Set(list.map((r) => r.cluster))].sort();
  const times = list.map((r) => Date.parse(r.startedAt));
  const [tMin, tMax] = [Math.min(...times), Math.max(...times)];
  const rtoMax = Math.max(1000, ...list.map((r) => r.rtoMs ?? 0));
  const [l, rgt, top, bottom] = [60, 20, 20, 50];
  const x = (t: number) => l + (tMax === tMin ? 0.5 : (t - tMin) / (tMax - tMin)) * (width - l - rgt);
  const y = (ms: number) => top + (1 - ms / rtoMax) * (height - top - bottom);
  const parts: string[] = [];
  for (const t of niceTicks(rtoMax))
    parts.push(
      `<line class="grid" x1="${l}" x2="${width - rgt}" y1="${y(t)}" y2="${y(t)}"/><text x="${l - 6}" y="${y(t) + 4}" text-anchor="end">${(t / 1000).toFixed(t < 10_000 ? 1 : 0)} s</text>`,
    );
  const dates = [...new Set([tMin, tMax])];
  for (const t of dates)
    parts.push(
      `<text x="${x(t)}" y="${height - bottom + 18}" text-anchor="middle">${esc(new Date(t).toISOString().slice(0, 16).replace('T', ' '))}</text>`,
    );
  parts.push(`<text x="${l}" y="${height - 8}">RTO of each drill (y) over time (x)</text>`);
  clusters.forEach((c, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const ok = list.filter((r) => r.cluster === c && r.rtoMs !== undefined && r.outcome === 'recovered');
    if (ok.length > 1)
      parts.push(
        `<polyline class="trend" data-cluster="${esc(c)}" fill="none" stroke="${color}" stroke-width="2" points="${ok.map((r) => `${x(Date.parse(r.startedAt)).toFixed(1)},${y(r.rtoMs!).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const r of list.filter((d) => d.cluster === c)) {
      const px = x(Date.parse(r.startedAt)).toFixed(1);
      if (r.outcome === 'recovered' && r.rtoMs !== undefined)
        parts.push(
          `<circle class="point" data-cluster="${esc(c)}" cx="${px}" cy="${y(r.rtoMs).toFixed(1)}" r="4" fill="${color}"><title>${esc(c)} ${esc(r.startedAt)}: RTO ${secs(r.rtoMs)}</title></circle>`,
        );
      else
        parts.push(
          `<text class="miss ${esc(r.outcome)}" x="${px}" y="${height - bottom - 4}" text-anchor="middle">✕<title>${esc(c)} ${esc(r.startedAt)}: ${esc(r.outcome)}${r.error ? `: ${esc(r.error)}` : ''}</title></text>`,
        );
    }
  });
  return `<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="RTO of drills over time">${parts.join('')}</svg>`;
}

export function drillTrendHtml(list: DrillResult[]): string {
  const clusters = [...new Set(list.map((r) => r.cluster))].sort();
  const body = [
    `<h1>DR drills: RTO over time</h1>`,
    `<div class="sub">${list.length} drill${list.length === 1 ? '' : 's'} of ${clusters.length} cluster${clusters.length === 1 ? '' : 's'}${list.length ? `, ${esc(list[0]!.startedAt)} to ${esc(list.at(-1)!.startedAt)}` : ''}</div>`,
    list.length ? drillTrendSvg(list) : '<p>no drills recorded</p>',
    `<div class="legend">${clusters.map((c, i) => `<span><i class="sw" style="background:${PALETTE[i % PALETTE.length]}"></i>${esc(c)}</span>`).join('')}<span style="color:#cf222e">✕ failed</span><span style="color:#9a6700">✕ refused</span></div>`,
    `<h2>Drills</h2>`,
    `<table><thead><tr><th>started</th><th>cluster</th><th>outcome</th><th>RTO</th><th>drill</th><th>trigger</th><th>error</th></tr></thead><tbody>`,
    ...list.map(
      (r) =>
        `<tr><td>${esc(r.startedAt)}</td><td>${esc(r.cluster)}</td><td><span class="badge ${esc(r.outcome)}">${esc(r.outcome)}</span></td><td>${secs(r.rtoMs)}</td><td>${secs(r.durationMs)}</td><td>${esc(r.trigger)}</td><td>${esc(r.error ?? '')}</td></tr>`,
    ),
    `</tbody></table>`,
  ].join('\n');
  return page('DR drills: RTO over time', body);
}
