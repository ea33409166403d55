/**
 * Shared by the planning tests: a made-up source and destination, written the way `zfs get -H`
 * prints them and parsed by zback's own parser.
 */
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import type { DestinationState } from '../../lib/plan/replication.js';
import { propertyNames, resolveConfigs, type DatasetConfig } from '../../lib/policy/properties.js';
import { capabilitiesFor, LEGACY_CAPABILITIES, type ZfsCapabilities } from '../../lib/zfs/capabilities.js';
import { parseInventory, type Inventory, type PropertyRow } from '../../lib/zfs/parse.js';
import type { ResumeTokenInfo } from '../../lib/zfs/resume-token.js';
import { createHash } from 'node:crypto';

/** The guid a snapshot called `name` has in these fixtures (a copy has the same): 63 bits of its hash, in decimal as zfs get -p prints it. */
export function guidOf(name: string): string {
  return BigInt('0x' + createHash('sha256').update(name).digest('hex').slice(0, 15)).toString();
}

/**
 * `state` with the resume token of `target` decoded as this machine's OpenZFS would decode a
 * genuine one: naming `dataset@snapshot` (raw when `raw`).
 */
export function withDecodedToken(state: DestinationState, target: string, dataset: string, snapshot: string, raw = false): DestinationState {
  if (!state.reachable) throw new Error('unreachable state');
  const toname = `${dataset}@${snapshot}`;
  const info: ResumeTokenInfo = {
    toname,
    toguid: BigInt(guidOf(snapshot)),
    object: 2n,
    offset: 0xc0000n,
    bytes: 0xe1288n,
    flags: { largeblockok: false, embedok: false, compressok: false, rawok: raw },
    otherKeys: [],
    resolved: { to: toname },
  };
  return { ...state, decodedTokens: new Map([...(state.decodedTokens ?? []), [target, info]]) };
}

export const OZ = capabilitiesFor('2.3.2');
export const LEG = LEGACY_CAPABILITIES;
export const cal = new Calendar('UTC');
export const names = new NameFormat();
export const N = propertyNames('org.wit');
/** Hourly tick 12:00, daily tick 2026-11-25 00:00 (UTC). */
export const NOW = Date.parse('2026-11-25T12:05:00Z');
/** The snapshot this run takes. */
export const NEW = '2026-11-25-120500';

/** zback name of an instant: at('11-25 09') → 2026-11-25-090000. */
export function at(dayHour: string): string {
  const [d, h] = dayHour.split(' ');
  return names.nameFor(Date.parse(`2026-${d}T${h!.padStart(2, '0')}:00:00Z`));
}
/** `count` hourly names from `from` on. */
export function hourly(from: string, count: number): string[] {
  const [d, h] = from.split(' ');
  const t0 = Date.parse(`2026-${d}T${h!.padStart(2, '0')}:00:00Z`);
  return Array.from({ length: count }, (_, i) => names.nameFor(t0 + i * 3_600_000));
}

/**
 * A snapshot: its name (guid guidOf(name), so a replicated copy has the same guid), or an object
 * with an explicit guid and user holds.
 */
export type Snap = string | { name: string; guid?: string; userrefs?: number };
export interface DsSpec {
  snaps?: Snap[];
  token?: string;
  /** The `encryption` property as OpenZFS lists it (default off); null: the row is missing. */
  encryption?: string | null;
}
export function inventoryOf(spec: Record<string, DsSpec>): Inventory {
  const lines: string[] = [];
  let txg = 1;
  let dsGuid = 1;
  for (const [d, s] of Object.entries(spec)) {
    lines.push(`${d}\tguid\tds${dsGuid++}`, `${d}\tcreatetxg\t${txg++}`, `${d}\tuserrefs\t-`);
    if (s.token) lines.push(`${d}\treceive_resume_token\t${s.token}`);
    if (s.encryption !== null) lines.push(`${d}\tencryption\t${s.encryption ?? 'off'}`);
    for (const x of s.snaps ?? []) {
      const o = typeof x === 'string' ? { name: x } : x;
      lines.push(`${d}@${o.name}\tguid\t${o.guid ?? guidOf(o.name)}`, `${d}@${o.name}\tcreatetxg\t${txg++}`, `${d}@${o.name}\tuserrefs\t${o.userrefs ?? 0}`);
    }
  }
  return parseInventory(lines.join('\n') + '\n');
}

export function rows(dataset: string, props: Record<string, string>): PropertyRow[] {
  return Object.entries(props).map(([k, v]) => ({ name: dataset, property: `org.wit:${k}`, value: v, source: 'local' }));
}
export function configOf(retention: string, destinations: string, dataset = 'p/a'): DatasetConfig {
  const [c] = resolveConfigs(rows(dataset, { snapshot: 'yes', retention, destinations }), N);
  if (c?.kind !== 'managed') throw new Error(`test config: ${JSON.stringify(c)}`);
  return c.config;
}

/** The destination host "bk" with the datasets of `spec` (plus `others`, listed but without snapshots). */
export function reachable(spec: Record<string, DsSpec>, caps: ZfsCapabilities = OZ, label = 'bk'): DestinationState {
  const inventory = inventoryOf(spec);
  return { label, reachable: true, caps, datasets: new Set(inventory.keys()), inventory };
}
