/**
 * `zback status --html FILE` (SPEC §12): one self-contained page — inline CSS and SVG, no script,
 * nothing fetched — for a browser or a wiki: the status table with its problems highlighted, a
 * timeline per dataset of the snapshots on the source and on each destination with why each one is
 * kept, and the replication lag over the last runs (state-dir/history.jsonl).
 *
 * Every name and message comes from ZFS properties or another host: all of it is escaped.
 */
import type { Calendar } from '../policy/calendar.js';
import { formatDuration } from '../policy/duration.js';
import type { PruneDecision } from '../policy/retention.js';
import type { RunHistoryEntry } from '../state/history.js';
import type { DatasetStatus, Problem, StatusReport } from './status.js';

/** One row of a dataset's timeline: the source, or a destination. */
export interface TimelineRow {
  label: string;
  /** The snapshots there, with whether and why each is kept (the retention's words). */
  snapshots: PruneDecision[];
  /** Only the last replicated snapshot is known (status without --remote). */
  recordedOnly?: { name: string; time: number } | null;
}

export interface HtmlInput {
  report: StatusReport;
  /** Per dataset: its source row, then one per destination. */
  timelines: ReadonlyMap<string, TimelineRow[]>;
  history: readonly RunHistoryEntry[];
  calendar: Calendar;
  host: string;
}

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const KIND_COLOURS: Record<string, string> = {
  yearly: '#6a1b9a',
  monthly: '#1565c0',
  weekly: '#00838f',
  daily: '#2e7d32',
  hourly: '#9e9d24',
  protected: '#ef6c00',
  newest: '#0d47a1',
  pruned: '#bdbdbd',
  recorded: '#455a64',
};

/** The colour of a snapshot: its coarsest retention bucket, else why it is kept, else "pruned next". */
function kindOf(d: PruneDecision): string {
  if (!d.keep) return 'pruned';
  for (const unit of ['yearly', 'monthly', 'weekly', 'daily', 'hourly']) if (d.reasons.some((r) => r.startsWith(`${unit} `))) return unit;
  if (d.reasons.some((r) => r === 'newest zback snapshot') && d.reasons.length === 1) return 'newest';
  return 'protected';
}

function levelClass(problems: readonly Problem[]): string {
  return problems.some((p) => p.level === 'critical') ? 'crit' : problems.length ? 'warn' : 'ok';
}

function problemList(problems: readonly Problem[]): string {
  if (!problems.length) return '';
  return `<ul class="problems">${problems.map((p) => `<li class="${p.level === 'critical' ? 'crit' : 'warn'}">${esc(p.message)}</li>`).join('')}</ul>`;
}

function statusTable(report: StatusReport, now: number): string {
  const rows = report.datasets.map((d, index) => {
    const all = [...d.problems, ...d.destinations.flatMap((x) => x.problems)];
    const cls = levelClass(all);
    const newest = d.newest ? `${esc(formatDuration(d.newest.ageSeconds * 1000))} ago` : d.managed ? 'none' : '-';
    const next = d.nextDue === null ? '-' : d.nextDue === 'now' ? 'now' : `in ${esc(formatDuration(Date.parse(d.nextDue) - now))}`;
    const head = `<tr class="${cls}"><td class="mark">${cls === 'crit' ? 'CRIT' : cls === 'warn' ? 'WARN' : 'ok'}</td><td><a href="#ds-${index}">${esc(d.dataset)}</a>${problemList(d.problems)}</td><td>${esc(d.retention ?? '-')}</td><td>${esc(d.schedule ?? '-')}</td><td class="num">${d.managed ? d.snapshots.zback : '-'}</td><td>${newest}</td><td>${next}</td></tr>`;
    const dests = d.destinations.map((x) => {
      const xc = levelClass(x.problems);
      const last = x.lastReplicated
        ? `@${esc(x.lastReplicated)}${x.lagSeconds !== null ? ` (${esc(formatDuration(x.lagSeconds * 1000))} ago)` : ''}`
        : 'nothing yet';
      return `<tr class="dest ${xc}"><td class="mark">${xc === 'crit' ? 'CRIT' : xc === 'warn' ? 'WARN' : 'ok'}</td><td colspan="6">→ ${esc(x.destination)} · ${esc(x.schedule)} · last ${last}${x.result ? ` · ${esc(x.result)}` : ''}${problemList(x.problems)}</td></tr>`;
    });
    return head + dests.join('');
  });
  return `<table class="status"><thead><tr><th></th><th>dataset</th><th>retention</th><th>schedule</th><th>snaps</th><th>newest</th><th>next due</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** "12-03 06:07": an axis label (the page's header says the year and the zone). */
function shortTime(cal: Calendar, t: number): string {
  return cal.format(t, false).slice(5, 16);
}

const W = 960;
const LABEL = 230;
const ROW = 26;

/** The snapshots of one dataset on a time axis: a row for the source and one per destination. */
function timeline(rows: readonly TimelineRow[], cal: Calendar, now: number): string {
  const times = rows.flatMap((r) => [...r.snapshots.map((s) => s.time), ...(r.recordedOnly ? [r.recordedOnly.time] : [])]);
  let from = now - 3_600_000;
  for (const t of times) if (t < from) from = t;
  const span = Math.max(1, now - from);
  const x = (t: number) => LABEL + ((t - from) / span) * (W - LABEL - 20);
  const height = rows.length * ROW + 34;
  const parts: string[] = [];
  rows.forEach((r, i) => {
    const y = 16 + i * ROW;
    parts.push(`<text x="4" y="${y + 4}" class="lbl">${esc(r.label.length > 34 ? `…${r.label.slice(-33)}` : r.label)}</text>`);
    parts.push(`<line x1="${LABEL}" x2="${W - 20}" y1="${y}" y2="${y}" class="lane"/>`);
    for (const s of r.snapshots) {
      const kind = kindOf(s);
      const why = s.keep ? `kept: ${s.reasons.join('; ')}` : 'not kept: the next run destroys it';
      parts.push(
        `<circle cx="${x(s.time).toFixed(1)}" cy="${y}" r="5" fill="${KIND_COLOURS[kind]}" class="${kind}"><title>${esc(`@${s.name} (${cal.format(s.time, false)}): ${why}`)}</title></circle>`,
      );
    }
    if (r.recordedOnly)
      parts.push(
        `<rect x="${(x(r.recordedOnly.time) - 5).toFixed(1)}" y="${y - 5}" width="10" height="10" fill="${KIND_COLOURS.recorded}"><title>${esc(`@${r.recordedOnly.name}: the last snapshot sent there (as the last run recorded; status --remote shows them all)`)}</title></rect>`,
      );
    if (!r.snapshots.length && !r.recordedOnly) parts.push(`<text x="${LABEL + 6}" y="${y + 4}" class="none">no snapshot known here</text>`);
  });
  const axisY = rows.length * ROW + 10;
  for (let k = 0; k <= 4; k++) {
    const t = from + (span * k) / 4;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${axisY + 14}" class="tick" text-anchor="${k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}">${esc(shortTime(cal, t))}</text>`,
    );
  }
  return `<svg width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img">${parts.join('')}</svg>`;
}

/** What each snapshot is kept for, newest first (the first 24; the timeline's tooltips have all). */
function reasonsTable(rows: readonly TimelineRow[]): string {
  const source = rows[0];
  if (!source || !source.snapshots.length) return '';
  const shown = [...source.snapshots].reverse().slice(0, 24);
  const others = rows.slice(1);
  const onOther = others.map((r) => new Map(r.snapshots.map((s) => [s.name, s])));
  const cell = (d: PruneDecision | undefined) =>
    d === undefined
      ? '<td class="absent">–</td>'
      : `<td class="${d.keep ? kindOf(d) : 'pruned'}">${esc(d.keep ? d.reasons.join('; ') : 'destroyed by the next run')}</td>`;
  const body = shown.map((s) => `<tr><td class="name">@${esc(s.name)}</td>${cell(s)}${onOther.map((m) => cell(m.get(s.name))).join('')}</tr>`).join('');
  const more =
    source.snapshots.length > shown.length
      ? `<p class="more">… and ${source.snapshots.length - shown.length} older snapshots (see the timeline's tooltips)</p>`
      : '';
  return `<table class="why"><thead><tr><th>snapshot</th><th>${esc(source.label)}</th>${others.map((r) => `<th>${esc(r.label)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>${more}`;
}

/** Replication lag of one dataset's destinations over the recorded runs (hours; a failed run in red). */
function lagChart(dataset: string, d: DatasetStatus, history: readonly RunHistoryEntry[], cal: Calendar): string {
  const keys = [...new Set(history.flatMap((e) => Object.keys(e.d[dataset] ?? {})))];
  if (keys.length === 0 || history.length < 2) return '<p class="none">No replication lag recorded yet (it is drawn from the runs zback records).</p>';
  const t0 = Date.parse(history[0]!.t);
  const t1 = Math.max(t0 + 1, Date.parse(history[history.length - 1]!.t));
  let maxLag = 3600; // (a loop: a long history has too many values to spread into Math.max)
  for (const e of history) for (const [lag] of Object.values(e.d[dataset] ?? {})) if (lag !== null && lag > maxLag) maxLag = lag;
  const h = 150;
  const x = (t: number) => 50 + ((t - t0) / (t1 - t0)) * (W - 80);
  const y = (lag: number) => h - 20 - (lag / maxLag) * (h - 40);
  const palette = ['#1565c0', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f'];
  const parts: string[] = [`<line x1="50" x2="${W - 30}" y1="${h - 20}" y2="${h - 20}" class="lane"/>`];
  parts.push(`<text x="4" y="${y(maxLag) + 4}" class="tick">${esc(formatDuration(maxLag * 1000))}</text><text x="4" y="${h - 16}" class="tick">0</text>`);
  keys.forEach((key, i) => {
    const colour = palette[i % palette.length]!;
    const points = history.flatMap((e) => {
      const v = e.d[dataset]?.[key];
      return v && v[0] !== null ? [{ t: Date.parse(e.t), lag: v[0], result: v[1] }] : [];
    });
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((p) => `${x(p.t).toFixed(1)},${y(p.lag).toFixed(1)}`).join(' ')}"/>`,
    );
    // A failed run before anything was ever sent has no lag: marked on the axis.
    for (const e of history) {
      const v = e.d[dataset]?.[key];
      if (v && v[0] === null && /failed|unreachable|diverged|error/.test(v[1]))
        parts.push(
          `<circle cx="${x(Date.parse(e.t)).toFixed(1)}" cy="${h - 20}" r="4" fill="#c62828"><title>${esc(`${cal.format(Date.parse(e.t), false)}: ${v[1]}`)}</title></circle>`,
        );
    }
    for (const p of points.filter((p) => /failed|unreachable|diverged|error/.test(p.result)))
      parts.push(
        `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.lag).toFixed(1)}" r="4" fill="#c62828"><title>${esc(`${cal.format(p.t, false)}: ${p.result}`)}</title></circle>`,
      );
    const name = d.destinations.find((x) => x.destination.endsWith(key) || key.endsWith(x.destination))?.destination ?? key;
    parts.push(`<rect x="${60 + i * 240}" y="4" width="12" height="4" fill="${colour}"/><text x="${76 + i * 240}" y="10" class="tick">${esc(name)}</text>`);
  });
  parts.push(
    `<text x="50" y="${h - 2}" class="tick">${esc(shortTime(cal, t0))}</text><text x="${W - 30}" y="${h - 2}" class="tick" text-anchor="end">${esc(shortTime(cal, t1))}</text>`,
  );
  return `<svg width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" role="img"><title>${esc(`replication lag of ${dataset} over the last ${history.length} runs`)}</title>${parts.join('')}</svg>`;
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}.sub{color:#616161;margin:0 0 16px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.badge.ok{background:#2e7d32}.badge.warning{background:#f9a825;color:#212121}.badge.critical{background:#c62828}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}td,th{padding:4px 10px;text-align:left;vertical-align:top;border-bottom:1px solid #eee}
th{font-weight:600;color:#616161;font-size:12px;text-transform:uppercase}.num{text-align:right}
tr.crit td{background:#ffebee}tr.warn td{background:#fff8e1}tr.dest td{font-size:13px;color:#424242}
td.mark{font-weight:700;font-size:12px}tr.crit td.mark{color:#c62828}tr.warn td.mark{color:#f57f17}tr.ok td.mark{color:#2e7d32}
ul.problems{margin:4px 0 0;padding-left:18px}li.crit{color:#b71c1c}li.warn{color:#8d6e00}
section{margin-top:18px;padding:10px 14px;background:#fff;box-shadow:0 1px 2px #0002}
svg{display:block;margin:6px 0}.lbl{font-size:12px;fill:#424242}.tick{font-size:11px;fill:#757575}.none{font-size:12px;fill:#9e9e9e;color:#9e9e9e}
.lane{stroke:#e0e0e0;stroke-width:1}table.why td{font-size:12px;padding:2px 8px}td.name{font-family:ui-monospace,monospace}
td.pruned,td.absent{color:#9e9e9e}.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px;vertical-align:-1px}
`;

export function renderHtml(input: HtmlInput): string {
  const { report, calendar: cal } = input;
  const now = Date.parse(report.generated);
  const s = report.summary;
  const last = report.lastRun
    ? `last run ${formatDuration(now - Date.parse(report.lastRun.finished))} ago (exit ${report.lastRun.exitCode})`
    : 'no run recorded yet';
  const legend = Object.entries(KIND_COLOURS)
    .map(
      ([k, c]) => `<span><i style="background:${c}"></i>${k === 'pruned' ? 'destroyed by the next run' : k === 'recorded' ? 'last sent (recorded)' : k}</span>`,
    )
    .join('');
  const sections = report.datasets.map((d, index) => {
    const rows = input.timelines.get(d.dataset) ?? [];
    return `<section id="ds-${index}"><h2>${esc(d.dataset)}</h2>${problemList([...d.problems, ...d.destinations.flatMap((x) => x.problems)])}${
      rows.length ? timeline(rows, cal, now) + reasonsTable(rows) : '<p class="none">Not managed: no snapshots to show.</p>'
    }<h3 style="font-size:13px;margin:12px 0 0">Replication lag over the last runs</h3>${lagChart(d.dataset, d, input.history, cal)}</section>`;
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(`zback status · ${input.host}`)}</title><style>${CSS}</style></head>
<body>
<h1>zback status · ${esc(input.host)} <span class="badge ${s.status}">${s.status === 'ok' ? 'all ok' : `${s.criticals} critical, ${s.warnings} warning`}</span></h1>
<p class="sub">${esc(cal.format(now))} (${esc(report.zone)}) · ${esc(last)} · ${s.datasets} dataset${s.datasets === 1 ? '' : 's'}${report.remote ? ' · destinations asked live' : ' · destinations as the last run recorded them (--remote asks them now)'}</p>
${problemList(report.problems)}
${statusTable(report, now)}
<p class="legend">${legend}</p>
${sections.join('\n')}
</body></html>
`;
}
