/**
 * `zback status`'s report (lib/report/status.ts), built from made-up inventories and run states:
 * the levels a monitoring system sees (fresh, overdue, failed, stale, interrupted, corrupt files,
 * missing datasets, dated after the clock), the live view of --remote over what the last run
 * recorded, and the Nagios line and exit code (lib/report/status-text.ts).
 */
import { describe, expect, test } from '@jest/globals';
import type { ReplicationPlan } from '../../lib/plan/types.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { buildStatus, type StatusInput } from '../../lib/report/status.js';
import { CHECK_EXIT, renderCheck, renderStatus } from '../../lib/report/status-text.js';
import type { RecordedDataset, RecordedDestination, RunState } from '../../lib/state/run-state.js';
import { at, cal, hourly, inventoryOf, N, names, NOW, rows } from './plan-fixtures.js';

const HOUR = 3_600_000;
const thresholds = { warnMs: 2 * HOUR, critMs: 24 * HOUR };
const dest = 'bk:bpool/a|hourly';

function report(opts: {
  snaps?: string[];
  destinations?: string;
  state?: Partial<RunState>;
  now?: number;
  live?: ReplicationPlan[];
  extra?: Partial<StatusInput>;
}) {
  const configs = resolveConfigs(
    rows('p/a', { snapshot: 'yes', retention: '24h', ...(opts.destinations !== undefined ? { destinations: opts.destinations } : {}) }),
    N,
  );
  return buildStatus({
    configs,
    inventory: inventoryOf({ 'p/a': { snaps: opts.snaps ?? hourly('11-25 00', 13) } }),
    state: { version: 1, datasets: {}, ...opts.state },
    stateDir: '/var/lib/zback',
    now: opts.now ?? NOW,
    calendar: cal,
    names,
    thresholds,
    ...(opts.live ? { live: opts.live } : {}),
    ...opts.extra,
  });
}
const recorded = (
  d: Omit<Partial<RecordedDataset>, 'destinations'> & { destinations?: Record<string, Partial<RecordedDestination>> },
): RunState['datasets'] => ({
  'p/a': { lastRun: '2026-11-25T12:00:00Z', ok: true, errors: [], destinations: {}, ...d } as RecordedDataset,
});

describe('levels', () => {
  test('fresh: ok, with the newest snapshot, its age and the next tick', () => {
    const r = report({});
    expect(r.summary).toEqual({ datasets: 1, warnings: 0, criticals: 0, status: 'ok' });
    expect(r.datasets[0]!.newest).toEqual({ name: at('11-25 12'), time: '2026-11-25T12:00:00.000Z', ageSeconds: 300 });
    expect(r.datasets[0]!.nextDue).toBe('2026-11-25T13:00:00.000Z');
    expect(renderCheck(r)).toEqual({ line: 'ZBACK OK - 1 datasets, 0 critical, 0 warning | datasets=1 critical=0 warning=0', exitCode: CHECK_EXIT.OK });
  });

  test('overdue: a warning after --warn-after, critical after --crit-after, counted from the first missed tick', () => {
    const warn = report({ snaps: hourly('11-25 00', 10) }); // newest 09:00; 10:00 missed, now 12:05
    expect(warn.datasets[0]!.problems).toEqual([{ level: 'warning', message: 'the next snapshot is overdue by 2 h' }]);
    expect(renderCheck(warn).exitCode).toBe(CHECK_EXIT.WARNING);
    const crit = report({ snaps: hourly('11-23 00', 5) });
    expect(crit.datasets[0]!.problems[0]).toEqual({ level: 'critical', message: 'the next snapshot is overdue by 55 h' });
    expect(renderCheck(crit).exitCode).toBe(CHECK_EXIT.CRITICAL);
  });

  test('no snapshot at all: due now, overdue from the tick', () => {
    const r = report({ snaps: [] });
    expect([r.datasets[0]!.nextDue, r.datasets[0]!.newest, r.summary.status]).toEqual(['now', null, 'ok']); // 5 min past the tick: not overdue yet
  });

  test('a failed last run is critical, with its first error; notes of kept clones are warnings', () => {
    const r = report({
      state: { datasets: recorded({ ok: false, errors: ['p/a: cannot snapshot: out of space'], notes: ['p/a@x is kept: it has dependent clones'] }) },
    });
    expect(r.datasets[0]!.problems).toEqual([
      { level: 'critical', message: 'the last run failed: p/a: cannot snapshot: out of space' },
      { level: 'warning', message: 'p/a@x is kept: it has dependent clones' },
    ]);
  });

  test('a snapshot dated after the clock is critical, and not the newest', () => {
    const r = report({ snaps: [...hourly('11-25 00', 13), at('11-27 00')] });
    expect(r.datasets[0]!.newest!.name).toBe(at('11-25 12'));
    expect(r.datasets[0]!.problems[0]!.message).toMatch(/^dated after the clock: @2026-11-27-000000 \(ignored for due and retention, never destroyed/);
  });

  test('an interrupted last run and a corrupt state file are critical for the run as a whole', () => {
    const r = report({
      state: { run: { started: '2026-11-25T12:00:00Z', finished: '2026-11-25T12:00:30Z', exitCode: 1, host: 'web1', interrupted: 'SIGTERM' } },
      extra: { fileProblems: ['/var/lib/zback/holds.json is corrupt (Unexpected end of JSON input)'] },
    });
    expect(r.problems.map((p) => p.message)).toEqual([
      'the last run (2026-11-25T12:00:00Z) was stopped by SIGTERM before it finished; the next run continues',
      '/var/lib/zback/holds.json is corrupt (Unexpected end of JSON input); the next run keeps it aside and rebuilds',
    ]);
    expect(r.summary.status).toBe('critical');
  });

  test('a managed dataset that is gone is listed, critical, with why', () => {
    const r = report({ extra: { missing: [{ dataset: 'p/gone', error: 'p/gone is missing: its pool is not imported' }] } });
    const gone = r.datasets.find((d) => d.dataset === 'p/gone')!;
    expect([gone.missing, gone.managed, gone.problems]).toEqual([true, true, [{ level: 'critical', message: 'p/gone is missing: its pool is not imported' }]]);
  });

  test('a dataset whose configuration is wrong is critical with the error, and nothing else is said of it', () => {
    const configs = resolveConfigs(rows('p/a', { snapshot: 'yes', retention: '24q' }), N);
    const r = buildStatus({
      configs,
      inventory: inventoryOf({ 'p/a': {} }),
      state: { version: 1, datasets: {} },
      stateDir: '/s',
      now: NOW,
      calendar: cal,
      names,
      thresholds,
    });
    expect(r.datasets[0]!.error).toMatch(/org\.wit:retention="24q" is invalid/);
    expect(r.datasets[0]!.retention).toBeNull();
    expect(renderCheck(r).line).toMatch(/^ZBACK CRITICAL - 1 datasets, 1 critical, 0 warning: p\/a: p\/a: org\.wit:retention="24q"/);
  });
});

describe('destinations', () => {
  test('never reached: a warning', () => {
    const r = report({ destinations: dest });
    expect(r.datasets[0]!.destinations[0]!.problems).toEqual([{ level: 'warning', message: 'not replicated yet (no run has reached it)' }]);
  });

  test('recorded as sent, then stale once newer snapshots wait beyond the thresholds', () => {
    const sent = {
      'bk:bpool/a': {
        result: 'sent' as const,
        lastReplicated: at('11-25 12'),
        lastReplicatedTime: '2026-11-25T12:00:00.000Z',
        lastSuccess: '2026-11-25T12:01:00Z',
      },
    };
    const fresh = report({ destinations: dest, state: { datasets: recorded({ destinations: sent }) } });
    expect(fresh.datasets[0]!.destinations[0]).toMatchObject({ destination: 'bk:bpool/a', result: 'sent', lagSeconds: 300, problems: [] });
    const old = { 'bk:bpool/a': { ...sent['bk:bpool/a'], lastReplicated: at('11-25 06'), lastReplicatedTime: '2026-11-25T06:00:00.000Z' } };
    const stale = report({ destinations: dest, state: { datasets: recorded({ destinations: old }) } });
    expect(stale.datasets[0]!.destinations[0]!.problems).toEqual([{ level: 'warning', message: 'stale: replication to bk:bpool/a is overdue by 5 h' }]);
  });

  test('a failed, unreachable or diverged result is critical; a pending resume a warning', () => {
    for (const [result, level] of [
      ['failed', 'critical'],
      ['unreachable', 'critical'],
      ['diverged', 'critical'],
      ['error', 'critical'],
      ['resume', 'warning'],
    ] as const) {
      const r = report({ destinations: dest, state: { datasets: recorded({ destinations: { 'bk:bpool/a': { result, error: `it is ${result}` } } }) } });
      expect(r.datasets[0]!.destinations[0]!.problems[0]!.level).toBe(level);
    }
  });

  test('--remote: what the destination says now overrides what the last run recorded', () => {
    const recordedOk = { 'bk:bpool/a': { result: 'sent' as const, lastReplicated: at('11-25 12'), lastReplicatedTime: '2026-11-25T12:00:00.000Z' } };
    const live = [
      {
        dataset: 'p/a',
        hostLabel: 'bk',
        target: 'bpool/a',
        status: 'diverged',
        message: 'bk:bpool/a has diverged',
        common: at('11-25 10'),
      } as unknown as ReplicationPlan,
    ];
    const r = report({ destinations: dest, state: { datasets: recorded({ destinations: recordedOk }) }, live });
    const d = r.datasets[0]!.destinations[0]!;
    expect([r.remote, d.result, d.error, d.lastReplicated, d.lagSeconds]).toEqual([true, 'diverged', 'bk:bpool/a has diverged', at('11-25 10'), 7500]);
    expect(d.problems[0]).toEqual({ level: 'critical', message: 'diverged: bk:bpool/a has diverged' });
  });
});

test('the table: one row per dataset, problems under it, the verdict last', () => {
  const text = renderStatus(report({ snaps: hourly('11-25 00', 10), destinations: dest }), cal);
  expect(text.split('\n')[0]).toMatch(/^zback status at 2026-11-25 12:05:00 \+00:00 \(UTC\) · no run recorded yet in \/var\/lib\/zback$/);
  expect(text).toMatch(/^WARN\s+p\/a\s+24h\s+hourly\s+10\s+3h5m ago\s+now$/m);
  expect(text).toMatch(/! the next snapshot is overdue by 2 h$/m);
  expect(text).toMatch(/→ bk:bpool\/a {2}hourly {2}last nothing yet/);
  expect(text.trimEnd().split('\n').pop()).toBe('1 dataset: 2 warnings');
});
