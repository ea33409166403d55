/** `zback status --replicas` for people (a table per source host) and for Nagios-style checks. */
import { stripVTControlCharacters } from 'node:util';
import type { Calendar } from '../policy/calendar.js';
import { formatDuration } from '../policy/duration.js';
import { formatBytes } from './progress.js';
import type { ReplicasReport, ReplicaStatus } from './replicas.js';
import type { Level } from './status.js';
import { CHECK_EXIT } from './status-text.js';
import { level as levelStyle, style } from './style.js';

function mark(c: ReplicaStatus): string {
  if (c.problems.some((p) => p.level === 'critical')) return levelStyle.critical('CRIT');
  if (c.problems.length) return levelStyle.warning('WARN');
  return levelStyle.ok('ok');
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stripVTControlCharacters(text).length));
}

export function renderReplicas(report: ReplicasReport, cal: Calendar): string {
  const out = [`zback status --replicas on ${report.host} at ${cal.format(Date.parse(report.generated))} (${cal.zone})`, ''];
  if (report.sources.length === 0) out.push('No copy here carries the marks of a copy zback seeded (replica-of).', '');
  for (const { source, copies } of report.sources) {
    out.push(`${style.title(source)} · ${copies.length} cop${copies.length === 1 ? 'y' : 'ies'}`);
    const rows = [
      ['', 'COPY', 'OF', 'SCHEDULE', 'SNAPS', 'NEWEST', 'USED'],
      ...copies.map((c) => [
        mark(c),
        style.dataset(c.copy),
        c.dataset,
        c.schedule ?? '-',
        String(c.snapshots),
        c.newest ? `@${c.newest.name} (${formatDuration(c.newest.ageSeconds * 1000)} ago)` : 'none',
        c.usedBytes === null ? '-' : formatBytes(c.usedBytes),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => stripVTControlCharacters(r[i]!).length)));
    rows.forEach((r, i) => {
      out.push(`  ${r.map((cell, j) => pad(cell, widths[j]!)).join('  ')}`.trimEnd());
      const c = i > 0 ? copies[i - 1]! : null;
      for (const p of c?.problems ?? []) out.push(`      ${p.level === 'critical' ? style.error('✗') : style.warn('!')} ${p.message}`);
    });
    out.push('');
  }
  const s = report.summary;
  out.push(
    `${s.copies} cop${s.copies === 1 ? 'y' : 'ies'} from ${s.sources} source host${s.sources === 1 ? '' : 's'}: ${s.status === 'ok' ? 'all ok' : [s.criticals ? `${s.criticals} critical` : '', s.warnings ? `${s.warnings} warning${s.warnings === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ')}`,
  );
  return out.map((l) => `${l}\n`).join('');
}

/** One Nagios line and its exit code, as `zback status --check` gives for a source. */
export function renderReplicasCheck(report: ReplicasReport): { line: string; exitCode: number } {
  const codes: Record<Level, number> = { ok: CHECK_EXIT.OK, warning: CHECK_EXIT.WARNING, critical: CHECK_EXIT.CRITICAL };
  const s = report.summary;
  const problems = report.sources
    .flatMap((g) => g.copies)
    .flatMap((c) => c.problems.map((p) => ({ ...p, message: `${c.copy} (${c.source}:${c.dataset}): ${p.message}` })))
    .sort((a, b) => (a.level === b.level ? 0 : a.level === 'critical' ? -1 : 1));
  const head = `ZBACK REPLICAS ${s.status.toUpperCase()} - ${s.copies} copies from ${s.sources} hosts, ${s.criticals} critical, ${s.warnings} warning`;
  const detail = problems.length ? `: ${problems.map((p) => p.message).join('; ')}` : '';
  return { line: `${head}${detail} | copies=${s.copies} sources=${s.sources} critical=${s.criticals} warning=${s.warnings}`, exitCode: codes[s.status] };
}
