/**
 * Bandwidth rates: `--bwlimit RATE` and a destination's `bwlimit=RATE`. Bytes per second, with K,
 * M, G or T for powers of 1024 (as mbuffer and pv read them): `20M` is 20 MiB/s. `0` is no limit.
 */
import { InvalidValue } from '../errors.js';
import { scaleBytes } from '../util/units.js';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Below this a stream would crawl (one 64 KiB chunk a minute): surely a mistyped unit. */
export const MIN_RATE = 1024;

/** Bytes per second, or null for `0` (no limit). */
export function parseRate(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/i.exec(text.trim());
  if (!m) throw new InvalidValue(`${JSON.stringify(text)} is not a rate: give bytes per second with K, M, G or T for powers of 1024, e.g. 20M for 20 MiB/s`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new InvalidValue(`${JSON.stringify(text)} is too large a rate`);
  if (bytes === 0 && Number(m[1]) === 0) return null;
  if (bytes < MIN_RATE) throw new InvalidValue(`${JSON.stringify(text)} is below 1K (1 KiB/s); write 0 for no limit`);
  return bytes;
}

/** "20 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  const { value, unit } = scaleBytes(bytesPerSecond);
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}/s`;
}
