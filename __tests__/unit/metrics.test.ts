/**
 * The metrics file's text (lib/report/metrics.ts): Prometheus' exposition format, one HELP and TYPE
 * per family, label values escaped. The integration test runs promtool on a real run's file.
 */
import { describe, expect, test } from '@jest/globals';
import { renderMetrics } from '../../lib/report/metrics.js';
import type { DatasetStatus, StatusReport } from '../../lib/report/status.js';
import type { RunState } from '../../lib/state/run-state.js';

const dataset = (name: string, extra: Partial<DatasetStatus> = {}): DatasetStatus => ({
  dataset: name,
  managed: true,
  error: null,
  retention: '24h',
  schedule: 'hourly',
  snapshots: { zback: 3, foreign: 1 },
  newest: { name: '2026-11-25-110000', time: '2026-11-25T11:00:00.000Z', ageSeconds: 60 },
  nextDue: 'now',
  lastRun: { time: '2026-11-25T11:01:00.000Z', ok: true, errors: [] },
  destinations: [],
  problems: [],
  ...extra,
});
const report = (datasets: DatasetStatus[], criticals = 0): StatusReport => ({
  schema: 'zback.status/1',
  generated: '2026-11-25T11:01:00.000Z',
  zone: 'UTC',
  stateDir: '/var/lib/zback',
  remote: false,
  lastRun: null,
  problems: [],
  datasets,
  summary: { datasets: datasets.length, warnings: 0, criticals, status: criticals ? 'critical' : 'ok' },
});

describe('renderMetrics', () => {
  test('label values are escaped (backslash, double quote, line feed); every family has its HELP and TYPE once', () => {
    const odd = dataset('tank/a "quoted" \\ name\nnext', {
      destinations: [
        {
          destination: 'bk:pool/x',
          text: 'bk:pool/x|hourly',
          schedule: 'hourly',
          result: 'failed',
          lastReplicated: null,
          lastReplicatedTime: null,
          lagSeconds: null,
          lastSuccess: null,
          error: 'boom',
          bookmark: null,
          stream: null,
          problems: [],
        },
      ],
    });
    const text = renderMetrics(report([odd], 1), { version: 1, datasets: {} });
    expect(text).toContain('zback_dataset_snapshots{dataset="tank/a \\"quoted\\" \\\\ name\\nnext"} 3\n');
    expect(text).toContain('zback_destination_ok{dataset="tank/a \\"quoted\\" \\\\ name\\nnext",destination="bk:pool/x"} 0\n');
    expect(text).toContain('zback_destination_sent_bytes{dataset="tank/a \\"quoted\\" \\\\ name\\nnext",destination="bk:pool/x"} 0\n');
    expect(text).not.toContain('zback_destination_last_replicated'); // nothing known: no series, not a 0 that looks like 1970
    for (const name of new Set([...text.matchAll(/^(zback_\w+)/gm)].map((m) => m[1]!))) {
      expect(text.split('\n').filter((l) => l === `# TYPE ${name} gauge`)).toHaveLength(1);
      expect(text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `))).toHaveLength(1);
    }
    // No run recorded yet: no run series at all.
    expect(text).not.toContain('zback_run_');
  });

  test('the run: finish time, duration, success; a run stopped by a signal is no success even with exit 0 recorded', () => {
    const state: RunState = {
      version: 1,
      run: { started: '2026-11-25T11:00:00.000Z', finished: '2026-11-25T11:00:02.500Z', exitCode: 0, host: 'fs1' },
      datasets: {},
    };
    const ok = renderMetrics(report([dataset('tank/a')]), state);
    expect(ok).toContain(`zback_run_finished_timestamp_seconds ${Date.parse('2026-11-25T11:00:02.500Z') / 1000}\n`);
    expect(ok).toContain('zback_run_duration_seconds 2.5\n');
    expect(ok).toContain('zback_run_success 1\n');
    expect(ok).toContain(`zback_dataset_newest_snapshot_timestamp_seconds{dataset="tank/a"} ${Date.parse('2026-11-25T11:00:00Z') / 1000}\n`);
    const stopped = renderMetrics(report([]), { ...state, run: { ...state.run!, interrupted: 'SIGTERM' } });
    expect(stopped).toContain('zback_run_success 0\n');
  });
});
