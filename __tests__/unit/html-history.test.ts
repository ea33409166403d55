/**
 * The status page (lib/report/html.ts) and the run history it draws the lag from
 * (lib/state/history.ts): hostile text stays text, the page fetches nothing, the history stays
 * bounded and survives a torn line.
 */
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Calendar } from '../../lib/policy/calendar.js';
import { esc, renderHtml } from '../../lib/report/html.js';
import type { StatusReport } from '../../lib/report/status.js';
import { appendRunHistory, historyEntry, historyPath, readRunHistory } from '../../lib/state/history.js';
import type { RunState } from '../../lib/state/run-state.js';

const cal = new Calendar('UTC');
const NOW = Date.parse('2026-12-02T12:30:00Z');
const evil = '<img src=x onerror=alert(1)>"\'&';

function report(): StatusReport {
  return {
    schema: 'zback.status/1',
    generated: new Date(NOW).toISOString(),
    zone: 'UTC',
    stateDir: '/var/lib/zback',
    remote: false,
    lastRun: { started: '2026-12-02T12:00:00Z', finished: '2026-12-02T12:00:05Z', exitCode: 1, host: 'web1' },
    problems: [{ level: 'critical', message: `state.json is corrupt: ${evil}` }],
    datasets: [
      {
        dataset: 'tank/a b',
        managed: true,
        retention: '24h',
        schedule: 'hourly',
        snapshots: { zback: 2, foreign: 0 },
        newest: { name: '2026-12-02-120000', time: '2026-12-02T12:00:00Z', ageSeconds: 1800 },
        nextDue: '2026-12-02T13:00:00.000Z',
        lastRun: null,
        destinations: [
          {
            destination: `bk:pool/${evil}`,
            text: 'bk:pool/x|hourly',
            schedule: 'hourly',
            result: 'failed',
            lastReplicated: '2026-12-02-110000',
            lastReplicatedTime: '2026-12-02T11:00:00Z',
            lagSeconds: 5400,
            lastSuccess: null,
            error: evil,
            bookmark: null,
            stream: null,
            problems: [{ level: 'warning', message: `failed: ${evil}` }],
          },
        ],
        problems: [],
      },
    ] as unknown as StatusReport['datasets'],
    summary: { datasets: 1, warnings: 1, criticals: 1, status: 'critical' },
  };
}

describe('the status page', () => {
  const page = renderHtml({
    report: report(),
    timelines: new Map([
      [
        'tank/a b',
        [
          {
            label: 'tank/a b (here, web1)',
            snapshots: [
              { name: '2026-12-02-110000', time: NOW - 5400_000, keep: true, reasons: ['hourly 2/24 (2026-12-02 11:00 +00:00)'] },
              { name: '2026-12-02-120000', time: NOW - 1800_000, keep: true, reasons: ['hourly 1/24 (2026-12-02 12:00 +00:00)', 'newest zback snapshot'] },
            ],
          },
          { label: `bk:pool/${evil}`, snapshots: [], recordedOnly: { name: '2026-12-02-110000', time: NOW - 5400_000 } },
        ],
      ],
    ]),
    history: [
      { t: '2026-12-02T11:00:05Z', exit: 0, d: { 'tank/a b': { 'bk:pool/x': [0, 'sent'] } } },
      { t: '2026-12-02T12:00:05Z', exit: 1, d: { 'tank/a b': { 'bk:pool/x': [3605, 'failed'] } } },
    ],
    calendar: cal,
    host: 'web1',
  });

  test('text from properties and other hosts stays text', () => {
    expect(page).not.toContain('<img');
    expect(page).toContain(esc(evil));
    expect(esc(evil)).toBe('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
  });
  test('self-contained: no script, nothing fetched, links only within the page', () => {
    expect(page).not.toMatch(/<script|<link|<iframe|url\(|@import/i);
    expect([...page.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1])).toEqual(['#ds-0']);
  });
  test('the problems, the timeline with why each snapshot is kept, the lag with the failed run marked', () => {
    expect(page).toContain('<span class="badge critical">1 critical, 1 warning</span>');
    expect(page).toContain('<tr class="warn"><td class="mark">WARN</td>');
    expect(page).toContain('<title>@2026-12-02-120000 (2026-12-02 12:00 +00:00): kept: hourly 1/24 (2026-12-02 12:00 +00:00); newest zback snapshot</title>');
    expect(page).toContain('the last snapshot sent there (as the last run recorded; status --remote shows them all)');
    expect(page).toMatch(/<circle [^>]*fill="#c62828"><title>2026-12-02 12:00 \+00:00: failed<\/title>/);
    expect(page).toContain('<title>replication lag of tank/a b over the last 2 runs</title>');
  });
});

describe('the run history', () => {
  const state: RunState = {
    version: 1,
    datasets: {
      'tank/a': {
        lastRun: '',
        ok: true,
        errors: [],
        notes: [],
        destinations: { 'bk:pool/a': { lastRun: '', result: 'sent', lastReplicatedTime: '2026-12-02T11:00:00Z' } },
      },
      'tank/b': { lastRun: '', ok: false, errors: [], notes: [], destinations: { 'bk:pool/b': { lastRun: '', result: 'unreachable' } } },
    },
  };
  test('a run leaves each destination’s lag at its end (null: nothing sent yet) and its result', () => {
    expect(historyEntry(state, NOW, 1)).toEqual({
      t: '2026-12-02T12:30:00.000Z',
      exit: 1,
      d: { 'tank/a': { 'bk:pool/a': [5400, 'sent'] }, 'tank/b': { 'bk:pool/b': [null, 'unreachable'] } },
    });
  });
  test('appended a line per run, bounded (the newer half kept), a torn line skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zback-history-'));
    for (let i = 0; i < 40; i++) appendRunHistory(dir, historyEntry(state, NOW + i * 60_000, 0), 4000);
    expect(statSync(historyPath(dir)).size).toBeLessThanOrEqual(4000);
    const kept = readRunHistory(dir);
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.at(-1)!.t).toBe(new Date(NOW + 39 * 60_000).toISOString()); // the newest is always kept
    expect(kept.map((e) => e.t)).toEqual([...kept.map((e) => e.t)].sort());
    appendFileSync(historyPath(dir), '{"t":"2026-12-0');
    writeFileSync(historyPath(dir), readFileSync(historyPath(dir), 'utf8') + '\nnot json\n');
    expect(readRunHistory(dir)).toEqual(kept);
    expect(readRunHistory(join(dir, 'none'))).toEqual([]);
  });
});
