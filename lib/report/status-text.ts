/**
 * `zback status` for people (a table, problems highlighted) and for Nagios-style checks (one
 * line, exit 0/1/2).
 */
import { stripVTControlCharacters } from 'node:util';
import type { Calendar } from '../policy/calendar.js';
import { formatDuration } from '../policy/duration.js';
import { describeRetention, parseRetention } from '../policy/retention.js';
import type { DatasetStatus, Level, Problem, StatusReport } from './status.js';
import { level as levelStyle, style } from './style.js';

function ago(seconds: number | null): string {
  return seconds === null ? '-' : `${formatDuration(seconds * 1000)} ago`;
}

function mark(problems: readonly Problem[]): string {
  if (problems.some((p) => p.level === 'critical')) return levelStyle.critical('CRIT');
  if (problems.length) return levelStyle.warning('WARN');
  return levelStyle.ok('ok');
}

/** Pads by visible width (colour codes do not count). */
function pad(text: string, width: number): string {
  const visible = stripVTControlCharacters(text).length;
  return text + ' '.repeat(Math.max(0, width - visible));
}

function datasetRow(d: DatasetStatus, now: number): string[] {
  const next = d.nextDue === null ? '-' : d.nextDue === 'now' ? 'now' : `in ${formatDuration(Date.parse(d.nextDue) - now)}`;
  return [
    mark([...d.problems, ...d.destinations.flatMap((x) => x.problems)]),
    style.dataset(d.dataset),
    d.retention ?? '-',
    d.schedule ?? '-',
    d.managed ? String(d.snapshots.zback) : '-',
    d.newest ? ago(d.newest.ageSeconds) : d.managed ? 'none' : '-',
    next,
  ];
}

export function renderStatus(report: StatusReport, cal: Calendar, opts: { verbose?: boolean } = {}): string {
  const now = Date.parse(report.generated);
  const lines: string[] = [];
  const last = report.lastRun
    ? `last run ${formatDuration(now - Date.parse(report.lastRun.finished))} ago (exit ${report.lastRun.exitCode})`
    : style.warn(`no run recorded yet in ${report.stateDir}`);
  lines.push(style.title(`zback status at ${cal.format(now)} (${report.zone})`) + ` · ${last}${report.remote ? ' · destinations asked live' : ''}`);
  for (const p of report.problems) lines.push(`${levelStyle.critical('✗')} ${p.message}`);
  lines.push('');
  const header = ['', 'DATASET', 'RETENTION', 'SCHEDULE', 'SNAPS', 'NEWEST', 'NEXT DUE'];
  const rows = report.datasets.map((d) => datasetRow(d, now));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => stripVTControlCharacters(r[i]!).length)));
  lines.push(
    style.dim(
      header
        .map((h, i) => pad(h, widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
  );
  report.datasets.forEach((d, i) => {
    lines.push(
      rows[i]!.map((c, j) => pad(c, widths[j]!))
        .join('  ')
        .trimEnd(),
    );
    const indent = ' '.repeat(widths[0]! + 2);
    for (const p of d.problems) lines.push(`${indent}${p.level === 'critical' ? levelStyle.critical('✗') : levelStyle.warning('!')} ${p.message}`);
    for (const x of d.destinations) {
      const lastSent = x.lastReplicated ? `@${x.lastReplicated}${x.lagSeconds !== null ? ` (${ago(x.lagSeconds)})` : ''}` : 'nothing yet';
      lines.push(
        `${indent}→ ${pad(x.destination, 0)}  ${style.dim(x.schedule)}  last ${lastSent}  ${mark(x.problems)}${x.result ? style.dim(` ${x.result}`) : ''}`,
      );
      if (opts.verbose && x.stream !== null) lines.push(`${indent}  ${style.dim(`stream ${x.stream || 'plain (no -L -e -c)'}, as the copy was seeded`)}`);
      if (x.bookmark && opts.verbose && !x.bookmark.snapshotGone) lines.push(`${indent}  ${style.dim(`bookmark #${x.bookmark.name}`)}`);
      for (const p of x.problems) lines.push(`${indent}  ${p.level === 'critical' ? levelStyle.critical('✗') : levelStyle.warning('!')} ${p.message}`);
    }
  });
  if (report.datasets.length === 0) lines.push(style.dim('No dataset is managed by zback.'));
  if (opts.verbose) lines.push(...retentionLegend(report, cal));
  const s = report.summary;
  lines.push('');
  const verdict =
    s.status === 'ok'
      ? levelStyle.ok('all ok')
      : `${s.criticals ? levelStyle.critical(`${s.criticals} critical`) : ''}${s.criticals && s.warnings ? ', ' : ''}${s.warnings ? levelStyle.warning(`${s.warnings} warning${s.warnings === 1 ? '' : 's'}`) : ''}`;
  lines.push(`${s.datasets} dataset${s.datasets === 1 ? '' : 's'}: ${verdict}`);
  return lines.join('\n') + '\n';
}

/** Each retention in the report, said in words (status --verbose). */
function retentionLegend(report: StatusReport, cal: Calendar): string[] {
  const texts = [...new Set(report.datasets.map((d) => d.retention).filter((r): r is string => typeof r === 'string' && r !== ''))].sort();
  if (texts.length === 0) return [];
  const lines = ['', style.dim('Retention:')];
  for (const t of texts) {
    try {
      lines.push(`  ${t}  ${style.dim(describeRetention(parseRetention(t), cal.zone))}`);
    } catch {
      // Not a retention zback could read (an error already reported for its dataset): nothing to say.
    }
  }
  return lines;
}

/** `zback status --check`: the Nagios plugin exit codes. */
export const CHECK_EXIT = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  /** The check itself could not run. */
  UNKNOWN: 3,
} as const;

/** Nagios plugin output: one line, then the exit code. */
export function renderCheck(report: StatusReport): { line: string; exitCode: number } {
  const codes: Record<Level, number> = { ok: CHECK_EXIT.OK, warning: CHECK_EXIT.WARNING, critical: CHECK_EXIT.CRITICAL };
  const s = report.summary;
  const problems = [
    ...report.problems,
    ...report.datasets.flatMap((d) => [
      ...d.problems.map((p) => ({ ...p, message: `${d.dataset}: ${p.message}` })),
      ...d.destinations.flatMap((x) => x.problems.map((p) => ({ ...p, message: `${d.dataset} → ${x.destination}: ${p.message}` }))),
    ]),
  ];
  problems.sort((a, b) => (a.level === b.level ? 0 : a.level === 'critical' ? -1 : 1));
  const head = `ZBACK ${s.status.toUpperCase()} - ${s.datasets} datasets, ${s.criticals} critical, ${s.warnings} warning`;
  const detail = problems.length ? `: ${problems.map((p) => p.message).join('; ')}` : '';
  return { line: `${head}${detail} | datasets=${s.datasets} critical=${s.criticals} warning=${s.warnings}`, exitCode: codes[s.status] };
}
