/**
 * Bookmarks as a safety net (SPEC §11): one per destination, made for the base once the sends
 * succeeded and replacing the older one only then; a base destroyed by hand is replaced by its
 * bookmark for the next send (`zfs send -i ds#bookmark`), not a full resend; the interlock lets
 * zback destroy only its own bookmark of the same destination, and never that destination's last.
 */
import { describe, expect, test } from '@jest/globals';
import { bookmarkName, bookmarkSuffix, isBookmarkFor, isZbackBookmark } from '../../lib/plan/bookmarks.js';
import { buildPlan } from '../../lib/plan/planner.js';
import { planReplication, type DestinationState } from '../../lib/plan/replication.js';
import type { Action, ReplicationPlan } from '../../lib/plan/types.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { renderPlan } from '../../lib/report/plan-text.js';
import { buildStatus } from '../../lib/report/status.js';
import { renderStatus } from '../../lib/report/status-text.js';
import { applyRefusals, checkPlan } from '../../lib/safety/interlock.js';
import { canBookmark } from '../../lib/zfs/capabilities.js';
import { bookmarkCommand, destroyBookmarkCommand, inventoryCommand, sendFromBookmarkCommand } from '../../lib/zfs/commands.js';
import { parseInventory, type Inventory } from '../../lib/zfs/parse.js';
import { cal, configOf, guidOf, hourly, LEG, N, names, NOW, OZ, reachable, rows, withDecodedToken } from './plan-fixtures.js';
import type { HoldRecord } from '../../lib/state/holds.js';

const THRESHOLDS = { warnMs: 2 * 3_600_000, critMs: 24 * 3_600_000 };
const POOL = new Map([['p', new Map([['bookmarks', 'enabled']])]]);
const [a, b, c, d] = hourly('11-25 08', 4) as [string, string, string, string];
const mine = (snap: string, host = 'bk', target = 'tank/copy') => bookmarkName('p/a', snap, host, target)!;

/**
 * The source p/a as `zfs get -t filesystem,volume,snapshot,bookmark` prints it: snapshots and
 * bookmarks in creation order. A bookmark has its snapshot's guid and createtxg; `gone`: that
 * snapshot was destroyed (only the bookmark is listed).
 */
type Item = string | { bookmark: string; of: string; gone?: true; guid?: string };
function source(items: Item[], dataset = 'p/a'): Inventory {
  const lines = [`${dataset}\tguid\t77`, `${dataset}\tcreatetxg\t1`, `${dataset}\tuserrefs\t-`, `${dataset}\tencryption\toff`];
  let txg = 10;
  const txgOf = new Map<string, number>();
  for (const x of items) {
    if (typeof x === 'string') {
      txgOf.set(x, ++txg);
      lines.push(
        `${dataset}@${x}\tguid\t${guidOf(x)}`,
        `${dataset}@${x}\tcreatetxg\t${txg}`,
        `${dataset}@${x}\tuserrefs\t0`,
        `${dataset}@${x}\tencryption\toff`,
      );
    } else {
      // (A bookmark has its snapshot's createtxg: several of one snapshot share it.)
      if (!txgOf.has(x.of)) txgOf.set(x.of, ++txg);
      const t = txgOf.get(x.of)!;
      const at = `${dataset}#${x.bookmark}`;
      lines.push(`${at}\tguid\t${x.guid ?? guidOf(x.of)}`, `${at}\tcreatetxg\t${t}`, `${at}\tuserrefs\t-`, `${at}\tencryption\toff`);
    }
  }
  return parseInventory(lines.join('\n') + '\n');
}

function plan1(
  items: Item[],
  target: DestinationState,
  opts: { usable?: boolean; retention?: string; encrypted?: boolean; dest?: string } = {},
): ReplicationPlan {
  const config = configOf(opts.retention ?? '24h', opts.dest ?? 'bk:tank/copy|hourly');
  const info = source(items).get('p/a')!;
  return planReplication({
    config,
    destination: config.destinations[0]!,
    snapshots: info.snapshots,
    ...(info.bookmarks ? { bookmarks: info.bookmarks } : {}),
    bookmarksUsable: opts.usable ?? true,
    ...(opts.encrypted !== undefined ? { encrypted: opts.encrypted } : {}),
    state: target,
    now: NOW,
    calendar: cal,
    names,
    localCaps: OZ,
  });
}
const sends = (p: ReplicationPlan) => p.sends.map((s) => s.sendArgv.join(' '));
const copyWith = (...snaps: string[]) => reachable({ tank: {}, 'tank/copy': { snaps } });

/**
 * A whole plan of p/a (built by the planner, checked by the interlock) with `destinations` (the
 * property's value) and each destination host's state.
 */
function planned(w: { items: Item[]; destinations: string; states: Map<string, DestinationState>; retention?: string; holds?: HoldRecord[] }) {
  const configs = resolveConfigs(rows('p/a', { snapshot: 'yes', retention: w.retention ?? '24h', destinations: w.destinations }), N);
  const inventory = source(w.items);
  const holds = w.holds ?? [];
  const plan = buildPlan({
    configs,
    inventory,
    caps: OZ,
    now: NOW,
    calendar: cal,
    names,
    destinations: w.states,
    holds,
    localFeatures: POOL,
    localDatasets: new Set(['p', 'p/a']),
  });
  const check = (actions: readonly Action[] = plan.actions) => checkPlan({ actions, configs, inventory, destinations: w.states, holds, names });
  return { plan, check, inventory };
}

describe('bookmark names', () => {
  test('the snapshot, then the destination in words, then a hash of it; any spelling of the host is the same destination', () => {
    expect(mine(a)).toMatch(/^2026-11-25-080000\.zback\.bk_tank_copy\.[0-9a-f]{8}$/);
    expect(bookmarkName('p/a', a, 'root@BK:22', 'tank/copy')).toBe(mine(a));
    expect(isBookmarkFor(mine(a), 'root@bk', 'tank/copy')).toBe(true);
    expect(isZbackBookmark(mine(a))).toBe(true);
    expect(isZbackBookmark('before-upgrade')).toBe(false);
  });

  test('destinations whose readable parts come out alike are told apart by the hash; another port is another destination', () => {
    expect(bookmarkSuffix('bk', 'tank/a_b')).not.toBe(bookmarkSuffix('bk', 'tank/a b'));
    expect(bookmarkSuffix('bk', 'tank/a_b').slice(0, -8)).toBe(bookmarkSuffix('bk', 'tank/a b').slice(0, -8));
    expect(isBookmarkFor(mine(a), 'bk', 'tank/copy2')).toBe(false);
    expect(isBookmarkFor(bookmarkName('p/a', a, 'bk:2222', 'tank/copy')!, 'bk', 'tank/copy')).toBe(false);
    // Only a whole suffix counts: the suffix alone is no bookmark of it.
    expect(isBookmarkFor(bookmarkSuffix('bk', 'tank/copy'), 'bk', 'tank/copy')).toBe(false);
  });

  test('a name ZFS could not take (dataset and bookmark over 255 characters) is none: that dataset goes without', () => {
    const long = `p/${'x'.repeat(215)}`;
    expect(bookmarkName(long, a, 'bk', 'tank/copy')).toBeNull();
    // The plan says so (the dry run shows it); the base is held as ever.
    const config = configOf('24h', 'bk:tank/copy|hourly', long);
    const info = source([a], long).get(long)!;
    const p = planReplication({
      config,
      destination: config.destinations[0]!,
      snapshots: info.snapshots,
      bookmarksUsable: true,
      state: reachable({ tank: {}, 'tank/copy': { snaps: [a] } }),
      now: NOW,
      calendar: cal,
      names,
      localCaps: OZ,
    });
    expect(p.bookmark).toEqual({ skipped: expect.stringContaining('its name would be longer than ZFS allows'), remove: [] });
  });

  test('only on OpenZFS with the pool feature enabled or active', () => {
    expect(canBookmark(OZ, new Map([['bookmarks', 'active']]))).toBe(true);
    expect(canBookmark(OZ, new Map([['bookmarks', 'disabled']]))).toBe(false);
    expect(canBookmark(OZ, undefined)).toBe(false);
    expect(canBookmark(LEG, new Map([['bookmarks', 'enabled']]))).toBe(false);
  });
});

describe('commands and the inventory', () => {
  test('bookmark, destroy one bookmark, send from one (only -i can start at a bookmark)', () => {
    expect(bookmarkCommand('p/a', a, mine(a))).toEqual(['zfs', 'bookmark', `p/a@${a}`, `p/a#${mine(a)}`]);
    expect(destroyBookmarkCommand('p/a', mine(a))).toEqual(['zfs', 'destroy', `p/a#${mine(a)}`]);
    expect(sendFromBookmarkCommand('p/a', mine(a), b, ['-w'])).toEqual(['zfs', 'send', '-w', '-i', `p/a#${mine(a)}`, `p/a@${b}`]);
    expect(() => bookmarkCommand('p/a', a, 'x;rm -rf /')).toThrow(/invalid character/);
  });

  test('the source inventory lists bookmarks on OpenZFS when asked; they are kept apart from snapshots, in creation order', () => {
    expect(inventoryCommand(['p'], OZ, false, true)).toContain('filesystem,volume,snapshot,bookmark');
    expect(inventoryCommand(['p'], OZ)).toContain('filesystem,volume,snapshot');
    const inv = source([a, { bookmark: 'foreign', of: a }, { bookmark: mine(b), of: b, gone: true }, c]).get('p/a')!;
    expect(inv.snapshots.map((s) => s.name)).toEqual([a, c]);
    expect(inv.bookmarks).toEqual([
      { name: 'foreign', guid: guidOf(a), createtxg: 11 },
      { name: mine(b), guid: guidOf(b), createtxg: 12 },
    ]);
  });
});

describe('planReplication: the bookmark of each destination', () => {
  test('a send: the new base is bookmarked, and this destination’s older bookmark goes, nobody else’s', () => {
    const other = bookmarkName('p/a', a, 'bk2', 'tank/copy')!;
    const p = plan1([a, { bookmark: mine(a), of: a }, { bookmark: other, of: a }, { bookmark: 'mine-by-hand', of: a }, b, c], copyWith(a));
    expect(sends(p)).toEqual([`zfs send -I p/a@${a} p/a@${c}`]);
    expect(p.bookmark).toEqual({ create: { snapshot: c, name: mine(c) }, remove: [mine(a)] });
  });

  test('up to date and its bookmark there: nothing to do; without one (an older zback, a new feature): made now', () => {
    expect(plan1([a, { bookmark: mine(a), of: a }], copyWith(a)).bookmark).toEqual({ current: mine(a), remove: [] });
    const p = plan1([a], copyWith(a));
    expect(p.status).toBe('up-to-date');
    expect(p.bookmark).toEqual({ create: { snapshot: a, name: mine(a) }, remove: [] });
  });

  test('not on zfs-fuse or a pool without the feature', () => {
    expect(plan1([a, b], copyWith(a), { usable: false }).bookmark).toBeUndefined();
  });

  test('the base destroyed by hand: the next send starts from its bookmark (-i #), not a full resend, and the bookmark moves on', () => {
    const p = plan1([a, { bookmark: mine(b), of: b, gone: true }, c, d], copyWith(a, b));
    expect(p.status).toBe('send');
    expect(p.common).toBeUndefined();
    expect(p.baseBookmark).toEqual({ name: mine(b), guid: guidOf(b) });
    expect(p.commonOnTarget).toBe(b);
    expect(sends(p)).toEqual([`zfs send -i p/a#${mine(b)} p/a@${c}`, `zfs send -i p/a@${c} p/a@${d}`]);
    expect(p.sends[0]).toMatchObject({ kind: 'incremental', from: mine(b), fromBookmark: true, to: c, delivers: [c] });
    expect(p.newCommon).toBe(d);
    expect(p.bookmark).toEqual({ create: { snapshot: d, name: mine(d) }, remove: [mine(b)] });
    // Encrypted: raw from the bookmark too.
    expect(sends(plan1([a, { bookmark: mine(b), of: b, gone: true }, c], copyWith(a, b), { encrypted: true }))).toEqual([
      `zfs send -w -i p/a#${mine(b)} p/a@${c}`,
    ]);
  });

  test('any bookmark of the base serves (a person’s too): it is only read', () => {
    const p = plan1([a, { bookmark: 'by-hand', of: b, gone: true }, c], copyWith(a, b));
    expect(sends(p)).toEqual([`zfs send -i p/a#by-hand p/a@${c}`]);
    expect(p.bookmark).toEqual({ create: { snapshot: c, name: mine(c) }, remove: [] });
  });

  test('the base destroyed and no bookmark of it: diverged, with the fix, as before', () => {
    const p = plan1([a, c], copyWith(a, b));
    expect([p.status, p.conflict?.kind]).toEqual(['diverged', 'newer-on-target']);
  });

  test('a bookmark whose snapshot the target no longer has is no base; the target’s newer snapshots still diverge', () => {
    expect(plan1([{ bookmark: mine(a), of: a, gone: true }, c], copyWith(b)).conflict?.kind).toBe('no-common');
    const p = plan1([a, { bookmark: mine(b), of: b, gone: true }, d], copyWith(a, b, c));
    expect([p.status, p.conflict?.kind]).toEqual(['diverged', 'newer-on-target']);
  });

  test('nothing newer than the bookmark yet: up to date; the target keeps the snapshot it marks, and the bookmark stays', () => {
    const p = plan1([a, { bookmark: mine(b), of: b, gone: true }], copyWith(a, b), { retention: '1h' });
    expect(p.status).toBe('up-to-date');
    expect(p.targetDestroy).not.toContain(b);
    expect(p.targetDecisions.find((x) => x.name === b)?.reasons.join(' ')).toMatch(/last common point with the source \(its bookmark/);
    expect(p.bookmark).toBeUndefined();
  });
});

describe('actions, the dry run and the interlock', () => {
  const world = (items: Item[], copy: string[]) => planned({ items, destinations: 'bk:tank/copy|hourly', states: new Map([['bk', copyWith(...copy)]]) });
  const ops = (as: readonly Action[]) =>
    as
      .filter((x) => x.op === 'send' || x.op === 'bookmark' || x.op === 'unbookmark')
      .map((x) => `${x.id} ${x.op} ${x.argv.slice(1).join(' ')} after ${x.after.join(',')}`);

  test('the bookmark waits for the last send, the old one’s destroy for the new bookmark; the interlock agrees', () => {
    const { plan, check } = world([a, { bookmark: mine(b), of: b, gone: true }, c], [a, b]);
    const list = ops(plan.actions);
    expect(list).toHaveLength(4);
    const [snap, send, send2, made, gone] = plan.actions.filter((x) => ['snapshot', 'send', 'bookmark', 'unbookmark'].includes(x.op));
    expect(snap!.op).toBe('snapshot');
    expect(send!.argv).toEqual(['zfs', 'send', '-i', `p/a#${mine(b)}`, `p/a@${c}`]);
    expect(send2!.after).toEqual([send!.id]);
    expect(made).toMatchObject({ op: 'bookmark', argv: bookmarkCommand('p/a', send2!.snapshots[0]!, mine(send2!.snapshots[0]!)), after: [send2!.id] });
    expect(gone).toMatchObject({ op: 'unbookmark', argv: destroyBookmarkCommand('p/a', mine(b)), after: [made!.id] });
    expect(check()).toEqual([]);
    const text = renderPlan(plan, cal, { verbose: false, dryRun: true });
    expect(text).toContain(`-i #${mine(b)} → @${c} (from the bookmark: the base snapshot is gone here)`);
    expect(text).toContain(`+ bookmark p/a#${mine(send2!.snapshots[0]!)}`);
    expect(text).toContain(`- bookmark p/a#${mine(b)}`);
    expect(text).toContain(`zfs destroy p/a#${mine(b)}`);
  });

  const tamper = (actions: readonly Action[], id: string, change: Partial<Action>) => actions.map((x) => (x.id === id ? { ...x, ...change } : x));

  test('refused: destroying another destination’s, a person’s, or the last bookmark of a destination', () => {
    const other = bookmarkName('p/a', a, 'bk2', 'tank/copy')!;
    const { plan, check } = world([a, { bookmark: mine(a), of: a }, { bookmark: other, of: a }, { bookmark: 'by-hand', of: a }, b], [a]);
    const gone = plan.actions.find((x) => x.op === 'unbookmark')!;
    expect(gone.bookmark).toBe(mine(a));
    expect(check()).toEqual([]);
    for (const name of [other, 'by-hand']) {
      const refused = check(tamper(plan.actions, gone.id, { bookmark: name, argv: destroyBookmarkCommand('p/a', name) }));
      expect(refused.map((r) => [r.rule, r.message.match(/not zback’s bookmark for the destination/) !== null])).toEqual([['bookmark', true]]);
    }
    // Without the new bookmark first, it would be the destination's last.
    const alone = check(tamper(plan.actions, gone.id, { after: [] }));
    expect(alone.map((r) => r.rule)).toEqual(['bookmark']);
    expect(alone[0]!.message).toContain(`refused to unbookmark p/a#${mine(a)}`);
    expect(alone[0]!.message).toContain('no newer bookmark of that destination is there or made first');
    // A bookmark that is not there, or a command that is not exactly the destroy of that bookmark.
    expect(check(tamper(plan.actions, gone.id, { bookmark: mine(c), argv: destroyBookmarkCommand('p/a', mine(c)) })).map((r) => r.rule)).toEqual(['unknown']);
    expect(check(tamper(plan.actions, gone.id, { argv: ['zfs', 'destroy', '-r', `p/a#${mine(a)}`] })).map((r) => r.rule)).toEqual(['unknown']);
    // The new bookmark is read from its command, not from what the action says of itself.
    const made = plan.actions.find((x) => x.op === 'bookmark')!;
    const lying = tamper(plan.actions, made.id, { argv: bookmarkCommand('p/a', made.snapshots[0]!, `${made.snapshots[0]!}.zback.bk2_tank_copy.00000000`) });
    expect(check(lying).map((r) => r.rule)).toEqual(['bookmark']);
    const stopped = applyRefusals(plan, alone);
    expect(stopped.actions.some((x) => x.op === 'unbookmark')).toBe(false);
    expect(stopped.actions.some((x) => x.op === 'bookmark')).toBe(true);
  });

  test('refused: destroying the bookmark a send starts from, before that send', () => {
    const { plan, check } = world([{ bookmark: mine(a), of: a, gone: true }, { bookmark: mine(b), of: b, gone: true }, c], [a]);
    // Planned: from the newest the target has (a's), and b's (which the target never got) is left alone.
    const send = plan.actions.find((x) => x.op === 'send')!;
    expect(send.argv).toContain(`p/a#${mine(a)}`);
    const gone = plan.actions.find((x) => x.op === 'unbookmark' && x.bookmark === mine(a))!;
    expect(check()).toEqual([]);
    // An older bookmark of that destination exists is not enough while a send still starts from it.
    const early = tamper(plan.actions, gone.id, { after: [] });
    expect(check(early).map((r) => r.rule)).toEqual(['bookmark']);
  });

  test('the target’s snapshot a bookmark stands for is that destination’s base there: its destroy is refused', () => {
    // (d, newer there than anything here, keeps b from being the newest: only the base rule is left.)
    const { plan, check } = world([a, { bookmark: mine(b), of: b, gone: true }], [a, b, d]);
    const fake: Action = {
      id: 'x1',
      phase: 'replicate',
      op: 'destroy',
      host: 'bk',
      dataset: 'p/a',
      replication: 'bk:tank/copy',
      argv: ['zfs', 'destroy', `tank/copy@${b}`],
      target: 'tank/copy',
      snapshots: [b],
      after: [],
      why: 'test',
    };
    expect(plan.replications[0]!.baseBookmark?.name).toBe(mine(b));
    expect(check([...plan.actions, fake]).map((r) => [r.rule, r.snapshot])).toEqual([['base', b]]);
  });
});

describe('several destinations, one base destroyed by hand (found by review)', () => {
  const [a, b, c] = hourly('11-25 09', 3) as [string, string, string];
  const two = (items: Item[], opts: { retention?: string } = {}) =>
    planned({
      items,
      destinations: 'bk:tank/copy|hourly,bk2:tank/copy|daily',
      states: new Map<string, DestinationState>([
        ['bk', reachable({ tank: {}, 'tank/copy': { snaps: [a, b] } }, OZ, 'bk')],
        ['bk2', reachable({ tank: {}, 'tank/copy': { snaps: [a, b] } }, OZ, 'bk2')],
      ]),
      ...opts,
    });

  test('each has its own bookmark of it: each sends from its own, and the interlock agrees', () => {
    const { plan, check } = two([a, { bookmark: mine(b, 'bk'), of: b, gone: true }, { bookmark: mine(b, 'bk2'), of: b, gone: true }, c]);
    const from = (host: string) => plan.replications.find((r) => r.hostLabel === host)!.baseBookmark?.name;
    expect([from('bk'), from('bk2')]).toEqual([mine(b, 'bk'), mine(b, 'bk2')]);
    expect(check()).toEqual([]);
  });

  test('only one has a bookmark of it (the other was away, or has none): the other stands on it, so it stays; the interlock refuses its destroy', () => {
    const { plan, check, inventory } = two([a, { bookmark: mine(b, 'bk'), of: b, gone: true }, c], { retention: '1h' });
    const bk2 = plan.replications.find((r) => r.hostLabel === 'bk2')!;
    expect(bk2.baseBookmark?.name).toBe(mine(b, 'bk'));
    expect(plan.actions.filter((x) => x.op === 'unbookmark')).toEqual([]);
    expect(check()).toEqual([]);
    // What the run leaves: bk2's copy still shares a guid with the source (the bookmark).
    const destroyed = new Set(plan.actions.filter((x) => x.op === 'destroy' && x.host === 'local').flatMap((x) => x.snapshots));
    const left = [...inventory.get('p/a')!.snapshots.filter((s) => !destroyed.has(s.name)), ...inventory.get('p/a')!.bookmarks!].map((x) => x.guid);
    expect(left).toContain(guidOf(b));
    // A plan that destroyed it after bk's new bookmark would cut bk2's chain: refused.
    const made = plan.actions.find((x) => x.op === 'bookmark' && x.replication === 'bk:tank/copy')!;
    const cut: Action = {
      ...made,
      id: 'x1',
      op: 'unbookmark',
      argv: destroyBookmarkCommand('p/a', mine(b, 'bk')),
      bookmark: mine(b, 'bk'),
      snapshots: [],
      after: [made.id],
    };
    const refused = check([...plan.actions, cut]);
    expect(refused.map((r) => r.rule)).toEqual(['bookmark']);
    expect(refused[0]!.message).toContain('it is the last common point of bk2:tank/copy, whose base snapshot is gone here');
  });

  test('a send from a bookmark that was cut is resumed (its token starts at the bookmark), not discarded', () => {
    const config = configOf('24h', 'bk:tank/copy|hourly');
    const info = source([a, { bookmark: mine(b), of: b, gone: true }, c]).get('p/a')!;
    const state = withDecodedToken(reachable({ tank: {}, 'tank/copy': { snaps: [a, b], token: '1-abc-def-0' } }), 'tank/copy', 'p/a', c);
    if (!state.reachable) throw new Error('unreachable');
    const info0 = state.decodedTokens!.get('tank/copy')!;
    const decoded = { ...info0, fromguid: BigInt(guidOf(b)), resolved: { to: `p/a@${c}`, from: `p/a#${mine(b)}` } };
    const p = planReplication({
      config,
      destination: config.destinations[0]!,
      snapshots: info.snapshots,
      bookmarks: info.bookmarks!,
      bookmarksUsable: true,
      state: { ...state, decodedTokens: new Map([['tank/copy', decoded]]) },
      now: NOW,
      calendar: cal,
      names,
      localCaps: OZ,
    });
    expect([p.status, p.discardReceive, p.message]).toEqual(['resume', undefined, undefined]);
    // A token from a guid that is neither a snapshot nor a bookmark here is still refused.
    const alien = { ...decoded, fromguid: 12345n };
    const q = planReplication({
      config,
      destination: config.destinations[0]!,
      snapshots: info.snapshots,
      bookmarks: info.bookmarks!,
      bookmarksUsable: true,
      state: { ...state, decodedTokens: new Map([['tank/copy', alien]]) },
      now: NOW,
      calendar: cal,
      names,
      localCaps: OZ,
    });
    expect([q.status, q.discardReceive]).toEqual(['error', true]);
    expect(q.message).toContain('which is not a snapshot or bookmark of p/a');
  });

  test('the new base has a name not zback’s (made by hand): the stale hold on the old base there is released, no refusal', () => {
    const [s09, s10, s11, s12] = hourly('11-25 09', 4) as [string, string, string, string];
    const { plan, check } = planned({
      items: [s09, { bookmark: mine(s10), of: s10, gone: true }, s11, s12, 'manual'],
      destinations: 'bk:tank/copy|hourly',
      states: new Map<string, DestinationState>([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [s09, { name: s10, userrefs: 1 }] } })]]),
      holds: [{ role: 'target', host: 'bk', dataset: 'tank/copy', snapshot: s10, tag: 'zback:replica' }],
    });
    expect(plan.replications[0]!.newCommon).toBe('manual');
    expect(plan.actions.some((x) => x.op === 'release' && x.host === 'bk' && x.snapshots[0] === s10)).toBe(true);
    expect(check()).toEqual([]);
  });

  test('a divergence behind a bookmark names the snapshot the bookmark stands for as the last common one', () => {
    const [w, x, y, z] = hourly('11-25 08', 4) as [string, string, string, string];
    const p = plan1([w, { bookmark: mine(x), of: x, gone: true }, z], copyWith(w, x, y));
    expect(p.conflict).toMatchObject({ kind: 'newer-on-target', common: x, rollbackTo: x, newer: [y] });
    expect(p.message).toContain(`newer than the last common one (@${x})`);
  });
});

describe('status', () => {
  test('each destination shows its bookmark; a base destroyed here is a warning that says the next send starts from it', () => {
    const configs = resolveConfigs(rows('p/a', { snapshot: 'yes', retention: '24h', destinations: 'bk:tank/copy|hourly' }), N);
    const report = (items: Item[]) =>
      buildStatus({
        configs,
        inventory: source(items),
        state: { version: 1, datasets: {} },
        now: NOW,
        calendar: cal,
        names,
        stateDir: '/x',
        thresholds: THRESHOLDS,
      }).datasets[0]!.destinations[0]!;
    expect(report([a, { bookmark: mine(a), of: a }]).bookmark).toEqual({ name: mine(a), snapshot: a, snapshotGone: false });
    const gone = report([a, { bookmark: mine(b), of: b, gone: true }]);
    expect(gone.bookmark).toEqual({ name: mine(b), snapshot: b, snapshotGone: true });
    expect(gone.problems.map((p) => p.message)).toContainEqual(
      expect.stringContaining(`its base @${b} was destroyed here (not by zback); the next send starts from the bookmark`),
    );
    expect(report([a]).bookmark).toBeNull();
  });

  test('with --verbose each destination shows its bookmark and the stream options its copy was seeded with', () => {
    const configs = resolveConfigs(rows('p/a', { snapshot: 'yes', retention: '24h', destinations: 'bk:tank/copy|hourly' }), N);
    const state = {
      version: 1,
      datasets: {
        'p/a': {
          lastRun: '2026-11-25T12:00:00Z',
          ok: true,
          errors: [],
          notes: [],
          destinations: { 'bk:tank/copy': { lastRun: '2026-11-25T12:00:00Z', result: 'sent' as const, lastReplicated: a, stream: '-L -e -c' } },
        },
      },
    };
    const r = buildStatus({
      configs,
      inventory: source([a, { bookmark: mine(a), of: a }]),
      state,
      now: NOW,
      calendar: cal,
      names,
      stateDir: '/x',
      thresholds: THRESHOLDS,
    });
    expect(r.datasets[0]!.destinations[0]!.stream).toBe('-L -e -c');
    const text = renderStatus(r, cal, { verbose: true });
    expect(text).toContain('stream -L -e -c, as the copy was seeded');
    expect(text).toContain(`bookmark #${mine(a)}`);
    expect(renderStatus(r, cal, { verbose: false })).not.toContain('bookmark #');
  });
});
