/**
 * Stream options (SPEC §11): `-L -e -c` chosen from both sides' ZFS and pool features at a copy's
 * seed, recorded, and kept for every later send to that copy; `-w` for an encrypted dataset.
 */
import { describe, expect, test } from '@jest/globals';
import { planReplication, type DestinationState } from '../../lib/plan/replication.js';
import type { ReplicationPlan } from '../../lib/plan/types.js';
import { chooseStreamFlags, featureList, type StreamFlag } from '../../lib/zfs/capabilities.js';
import { parsePoolFeatures } from '../../lib/zfs/parse.js';
import { cal, configOf, hourly, inventoryOf, LEG, names, NOW, OZ, reachable } from './plan-fixtures.js';

// `zpool get -H -o name,property,value feature@… bpool` on OpenZFS 2.3.2 (the test guest), and an
// old pool made with `zpool create -d` (every feature disabled) on which only some were enabled.
const NEW_POOL = parsePoolFeatures(
  [
    'bpool\tfeature@large_blocks\tenabled',
    'bpool\tfeature@embedded_data\tactive',
    'bpool\tfeature@lz4_compress\tactive',
    'bpool\tfeature@zstd_compress\tenabled',
    'bpool\tfeature@bookmarks\tenabled',
    'bpool\tfeature@bookmark_v2\tenabled',
    'bpool\tfeature@encryption\tenabled',
  ].join('\n') + '\n',
).get('bpool')!;
const OLD_POOL = parsePoolFeatures(
  'old\tfeature@large_blocks\tdisabled\nold\tfeature@embedded_data\tdisabled\nold\tfeature@lz4_compress\tenabled\nold\tfeature@zstd_compress\tdisabled\n',
).get('old')!;
const ZSTD_SOURCE = parsePoolFeatures('tank\tfeature@zstd_compress\tactive\n').get('tank')!;

describe('parsePoolFeatures and featureList', () => {
  test("per pool, each feature's state; a feature this ZFS does not know ('-') is left out", () => {
    const m = parsePoolFeatures('tank\tfeature@large_blocks\tactive\ntank\tfeature@zstd_compress\t-\nb\tfeature@encryption\tdisabled\n');
    expect([...m.keys()]).toEqual(['tank', 'b']);
    expect([...m.get('tank')!]).toEqual([['large_blocks', 'active']]);
    expect(featureList(NEW_POOL)).toBe('large_blocks embedded_data lz4_compress zstd_compress bookmarks bookmark_v2 encryption');
    expect(featureList(OLD_POOL)).toBe('lz4_compress');
    expect(featureList(undefined)).toBe('unknown');
  });
});

describe('chooseStreamFlags', () => {
  test.each<[string, Parameters<typeof chooseStreamFlags>, StreamFlag[]]>([
    ['OpenZFS both sides, a new pool: -L -e -c', [OZ, OZ, undefined, NEW_POOL, false], ['-L', '-e', '-c']],
    ['encrypted: raw, which sends every block as stored', [OZ, OZ, undefined, NEW_POOL, true], ['-w']],
    ['zfs-fuse here: a plain stream', [LEG, OZ, undefined, NEW_POOL, false], []],
    ['zfs-fuse there: a plain stream', [OZ, LEG, undefined, NEW_POOL, false], []],
    ["the destination's features unknown: a plain stream", [OZ, OZ, undefined, undefined, false], []],
    ['an old destination pool: only what it has enabled', [OZ, OZ, new Map(), OLD_POOL, false], ['-c']],
    ['zstd records here, no zstd there: not compressed on the wire', [OZ, OZ, ZSTD_SOURCE, OLD_POOL, false], []],
    ['zstd records here and there: compressed', [OZ, OZ, ZSTD_SOURCE, NEW_POOL, false], ['-L', '-e', '-c']],
  ])('%s', (_what, args, flags) => expect(chooseStreamFlags(...args)).toEqual(flags));
});

describe('planReplication: the copy keeps its stream options', () => {
  const [a, b] = hourly('11-25 09', 2) as [string, string];
  const withFeatures = (s: DestinationState, pool: ReadonlyMap<string, string> = NEW_POOL): DestinationState =>
    s.reachable ? { ...s, features: new Map([['bpool', pool]]) } : s;
  const plan = (state: DestinationState, extra: { recordedStream?: StreamFlag[]; encrypted?: boolean; local?: typeof OZ } = {}): ReplicationPlan => {
    const config = configOf('24h', 'bk:bpool/a|hourly', 'p/a');
    return planReplication({
      config,
      destination: config.destinations[0]!,
      snapshots: inventoryOf({ 'p/a': { snaps: [a, b] } }).get('p/a')!.snapshots,
      state,
      now: NOW,
      calendar: cal,
      names,
      localCaps: extra.local ?? OZ,
      sourcePool: new Map([['lz4_compress', 'active']]), // no zstd records here
      ...(extra.recordedStream ? { recordedStream: extra.recordedStream } : {}),
      ...(extra.encrypted !== undefined ? { encrypted: extra.encrypted } : {}),
    });
  };
  const sends = (p: ReplicationPlan) => p.sends.map((s) => s.sendArgv.join(' '));

  test('a seed chooses them from the features, and every step of it uses them; the plan carries them to be recorded', () => {
    const p = plan(withFeatures(reachable({ bpool: {} })));
    expect(sends(p)).toEqual([`zfs send -L -e -c p/a@${a}`, `zfs send -L -e -c -i p/a@${a} p/a@${b}`]);
    expect(p.streamFlags).toEqual(['-L', '-e', '-c']);
  });
  test('a seed ignores what an earlier copy recorded (a reseed starts afresh)', () => {
    expect(sends(plan(withFeatures(reachable({ bpool: {} }), OLD_POOL), { recordedStream: ['-L', '-e', '-c'] }))[0]).toBe(`zfs send -c p/a@${a}`);
  });
  test('an existing copy keeps the options it was seeded with, whatever the features say now', () => {
    const copy = reachable({ bpool: {}, 'bpool/a': { snaps: [a] } });
    expect(sends(plan(withFeatures(copy, OLD_POOL), { recordedStream: ['-L', '-e', '-c'] }))).toEqual([`zfs send -L -e -c -i p/a@${a} p/a@${b}`]);
    expect(sends(plan(withFeatures(copy), { recordedStream: [] }))).toEqual([`zfs send -i p/a@${a} p/a@${b}`]);
    // Recorded before zback recorded them (none on record): chosen as for a seed (-L may be added, never dropped).
    expect(sends(plan(withFeatures(copy)))).toEqual([`zfs send -L -e -c -i p/a@${a} p/a@${b}`]);
  });
  test('no options where either side is not OpenZFS, whatever was recorded; -w alone for an encrypted dataset', () => {
    const copy = reachable({ bpool: {}, 'bpool/a': { snaps: [a] } });
    expect(sends(plan(withFeatures(copy), { recordedStream: ['-L'], local: LEG }))).toEqual([`zfs send -i p/a@${a} p/a@${b}`]);
    expect(sends(plan(withFeatures(reachable({ bpool: {}, 'bpool/a': { snaps: [a] } }, LEG)), { recordedStream: ['-L'] }))).toEqual([
      `zfs send -i p/a@${a} p/a@${b}`,
    ]);
    const raw = plan(withFeatures(copy), { encrypted: true, recordedStream: ['-L', '-e', '-c'] });
    expect(sends(raw)).toEqual([`zfs send -w -i p/a@${a} p/a@${b}`]);
    expect(raw.streamFlags).toBeUndefined();
  });
});
