/**
 * `zback run --metrics-file FILE` (SPEC §12): the run's outcome in Prometheus' text exposition
 * format, for node_exporter's textfile collector. Pure: the status report (the same numbers
 * `zback status` shows) and the recorded state in, the file's text out. The names are stable:
 * alert rules depend on them (README, "Metrics").
 *
 * Timestamps are Unix seconds (alert on `time() - metric`); every series of a dataset or a
 * destination carries `dataset` (and `destination`, "host:target" as in status) as labels.
 */
import { isBroken } from '../plan/replication.js';
import type { RunState } from '../state/run-state.js';
import type { StatusReport } from './status.js';

interface Family {
  name: string;
  help: string;
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function seconds(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t / 1000;
}

export function renderMetrics(report: StatusReport, state: RunState): string {
  const families: Family[] = [];
  const family = (name: string, help: string): Family['samples'] => {
    const f: Family = { name: `zback_${name}`, help, samples: [] };
    families.push(f);
    return f.samples;
  };

  const run = state.run;
  const finished = seconds(run?.finished);
  const started = seconds(run?.started);
  if (run && finished !== null && started !== null) {
    family('run_finished_timestamp_seconds', 'When the last zback run finished (its own clock).').push({ value: finished });
    family('run_duration_seconds', 'How long the last zback run took.').push({ value: Math.max(0, Math.round((finished - started) * 1000) / 1000) });
    family('run_success', '1 if the last zback run exited 0, else 0 (a failure, a signal).').push({ value: run.exitCode === 0 && !run.interrupted ? 1 : 0 });
  }

  const snapshots = family('dataset_snapshots', "Number of zback's snapshots of the dataset.");
  const newest = family('dataset_newest_snapshot_timestamp_seconds', "Time of the dataset's newest zback snapshot (from its name).");
  const datasetOk = family('dataset_ok', "1 if the dataset's last run had no failure and its configuration is valid, else 0.");
  const replicated = family('destination_last_replicated_timestamp_seconds', 'Time of the newest snapshot the destination is known to have.');
  const success = family('destination_last_success_timestamp_seconds', 'When a run last succeeded for the destination.');
  const destinationOk = family('destination_ok', "1 if the destination's last result was not a failure (sent, up to date, not due), else 0.");
  const sent = family('destination_sent_bytes', 'Bytes the last run sent to the destination.');
  const problems = family('problems', 'Problems zback status reports, by level (warning, critical).');

  for (const d of report.datasets) {
    const labels = { dataset: d.dataset };
    if (!d.managed && !d.missing && d.error === null) continue; // (a dataset with a bad property is one zback should manage)
    snapshots.push({ labels, value: d.snapshots.zback });
    const t = seconds(d.newest?.time);
    if (t !== null) newest.push({ labels, value: t });
    datasetOk.push({ labels, value: d.error === null && d.lastRun?.ok !== false ? 1 : 0 });
    for (const x of d.destinations) {
      const both = { dataset: d.dataset, destination: x.destination };
      const r = seconds(x.lastReplicatedTime);
      if (r !== null) replicated.push({ labels: both, value: r });
      const s = seconds(x.lastSuccess);
      if (s !== null) success.push({ labels: both, value: s });
      // (Failed as zback status says it: a failed send, or a broken replication.)
      if (x.result !== null) destinationOk.push({ labels: both, value: x.result === 'failed' || isBroken({ status: x.result }) ? 0 : 1 });
      const bytes = state.datasets[d.dataset]?.destinations[x.destination]?.bytes;
      if (x.result !== null) sent.push({ labels: both, value: bytes ?? 0 }); // (nothing sent: 0)
    }
  }
  problems.push({ labels: { level: 'warning' }, value: report.summary.warnings }, { labels: { level: 'critical' }, value: report.summary.criticals });

  const lines: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`);
    for (const s of f.samples) {
      const labels = s.labels
        ? `{${Object.entries(s.labels)
            .map(([k, v]) => `${k}="${labelValue(v)}"`)
            .join(',')}}`
        : '';
      lines.push(`${f.name}${labels} ${s.value}`);
    }
  }
  return lines.join('\n') + '\n';
}
