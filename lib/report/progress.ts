/** Transfer progress for a terminal: bytes, rate and (when the size is known) ETA, throttled. */
import { formatDuration } from '../policy/duration.js';
import { scaleBytes } from '../util/units.js';

export function formatBytes(n: number): string {
  const { value, unit } = scaleBytes(n);
  return `${value.toFixed(unit === 'B' ? 0 : 1)} ${unit}`;
}

/** Returns the callback for ReplicationContext.onProgress; `show(null)` clears the line. */
export function progressReporter(show: (line: string | null) => void, clock: () => number = Date.now, everyMs = 250) {
  const started = new Map<string, number>();
  let last = 0;
  return (label: string, bytes: number | null, total: number | null): void => {
    if (bytes === null) {
      started.delete(label);
      show(null);
      return;
    }
    const now = clock();
    if (!started.has(label)) started.set(label, now);
    if (now - last < everyMs) return;
    last = now;
    const seconds = Math.max(0.001, (now - started.get(label)!) / 1000);
    const rate = bytes / seconds;
    const of = total ? ` of ${formatBytes(total)} (${Math.min(100, Math.floor((bytes / total) * 100))}%)` : '';
    const eta = total && rate > 0 && total > bytes ? `, ETA ${formatDuration(((total - bytes) / rate) * 1000)}` : '';
    show(`${label}: ${formatBytes(bytes)}${of}, ${formatBytes(rate)}/s${eta}`);
  };
}
