/**
 * zback's snapshot names: a strftime-like format in UTC, by default `%Y-%m-%d-%H%M%S`
 * (ZnapZend's default, so its snapshots are recognised). A snapshot is zback's own exactly when
 * its name matches the format and encodes a real date; every other snapshot is foreign.
 */
import { InvalidValue } from '../errors.js';

export const DEFAULT_NAME_FORMAT = '%Y-%m-%d-%H%M%S';

const TOKENS: Record<string, { re: string; width: number }> = {
  Y: { re: '(\\d{4})', width: 4 },
  m: { re: '(\\d{2})', width: 2 },
  d: { re: '(\\d{2})', width: 2 },
  H: { re: '(\\d{2})', width: 2 },
  M: { re: '(\\d{2})', width: 2 },
  S: { re: '(\\d{2})', width: 2 },
};

/** Characters ZFS allows in a snapshot name component, besides letters and digits. */
const LITERAL_OK = /^[A-Za-z0-9_.:-]$/;

export class NameFormat {
  readonly format: string;
  private readonly parts: Array<{ token: string } | { literal: string }> = [];
  private readonly re: RegExp;
  private readonly order: string[] = [];
  /**
   * Names already parsed. A run sees the same few names on every dataset (one snapshot of a tree
   * is one name on each of its datasets), so with 1,000 datasets this saves ~99% of the parsing.
   */
  private readonly parsed = new Map<string, number | null>();

  constructor(format: string = DEFAULT_NAME_FORMAT) {
    this.format = format;
    let re = '^';
    for (let i = 0; i < format.length; i++) {
      const c = format[i]!;
      if (c === '%') {
        const t = format[i + 1];
        if (t === undefined || !(t in TOKENS)) {
          throw new InvalidValue(`unsupported token %${t ?? ''} in snapshot name format (use %Y %m %d %H %M %S)`);
        }
        if (this.order.includes(t)) throw new InvalidValue(`token %${t} appears twice in the snapshot name format`);
        this.parts.push({ token: t });
        this.order.push(t);
        re += TOKENS[t]!.re;
        i++;
      } else {
        if (!LITERAL_OK.test(c)) throw new InvalidValue(`character ${JSON.stringify(c)} is not allowed in a snapshot name`);
        this.parts.push({ literal: c });
        re += c.replace(/[.]/g, '\\.');
      }
    }
    for (const t of ['Y', 'm', 'd', 'H', 'M', 'S']) {
      if (!this.order.includes(t)) throw new InvalidValue(`the snapshot name format must contain %${t}`);
    }
    this.re = new RegExp(re + '$');
  }

  /** The name for an instant (UTC, whole seconds). */
  nameFor(utcMs: number): string {
    const d = new Date(utcMs);
    const v: Record<string, number> = {
      Y: d.getUTCFullYear(),
      m: d.getUTCMonth() + 1,
      d: d.getUTCDate(),
      H: d.getUTCHours(),
      M: d.getUTCMinutes(),
      S: d.getUTCSeconds(),
    };
    return this.parts.map((p) => ('literal' in p ? p.literal : String(v[p.token]).padStart(TOKENS[p.token]!.width, '0'))).join('');
  }

  /** The UTC instant a zback name encodes, or null when the name is not zback's (foreign). */
  parse(name: string): number | null {
    let t = this.parsed.get(name);
    if (t === undefined) this.parsed.set(name, (t = this.parseUncached(name)));
    return t;
  }

  private parseUncached(name: string): number | null {
    const m = this.re.exec(name);
    if (!m) return null;
    const v: Record<string, number> = {};
    this.order.forEach((t, i) => (v[t] = Number(m[i + 1])));
    const [Y, mo, d, H, M, S] = [v.Y!, v.m!, v.d!, v.H!, v.M!, v.S!];
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || H > 23 || M > 59 || S > 59) return null;
    // Date.UTC maps years 0–99 to 1900–1999: set the year separately.
    const date = new Date(Date.UTC(2000, mo - 1, d, H, M, S));
    date.setUTCFullYear(Y);
    // Reject dates that roll over (2026-02-30): they were not written by zback.
    if (date.getUTCDate() !== d || date.getUTCMonth() !== mo - 1) return null;
    return date.getTime();
  }
}

/** How far after the run's clock a snapshot's name may be dated before zback distrusts it (SPEC §9). */
export const FUTURE_SLACK_MS = 5 * 60_000;

/**
 * The names as a run may trust them: a zback name dated more than FUTURE_SLACK_MS after `now` (a
 * clock that jumped, a VM resumed, a hand-made name) parses as no time at all, so it counts for
 * nothing — not newest, not due, not retention — and, like a foreign snapshot, is never destroyed.
 */
export class TrustedNames extends NameFormat {
  constructor(
    readonly base: NameFormat,
    readonly now: number,
  ) {
    super(base.format);
  }

  override parse(name: string): number | null {
    const t = super.parse(name);
    return t !== null && t > this.now + FUTURE_SLACK_MS ? null : t;
  }

  /** Whether a name is zback's but dated in the future. */
  isFuture(name: string): boolean {
    const t = super.parse(name);
    return t !== null && t > this.now + FUTURE_SLACK_MS;
  }
}
