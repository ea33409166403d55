import { InvalidValue } from '../errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90m", "2h", "1d12h" → milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (!/^(\d+[smhdw])+$/.test(s)) throw new InvalidValue(`${JSON.stringify(text)} is not a duration such as 90m, 2h or 1d`);
  let ms = 0;
  for (const m of s.matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** 4000 → "4s", 5_400_000 → "1h30m": compact, two units at most. */
export function formatDuration(ms: number): string {
  const neg = ms < 0;
  let rest = Math.round(Math.abs(ms) / 1000);
  const parts: string[] = [];
  for (const [u, secs] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= secs || (u === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / secs)}${u}`);
      rest %= secs;
    }
    if (parts.length === 2) break;
  }
  return (neg ? '-' : '') + parts.join('');
}
