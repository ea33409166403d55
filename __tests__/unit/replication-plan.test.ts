import { describe, expect, test } from '@jest/globals';
import { buildPlan, replicationKey } from '../../lib/plan/planner.js';
import { orderNestedSeeds, planReplication, sourceHoldTag, TARGET_HOLD_TAG, type DestinationState } from '../../lib/plan/replication.js';
import { parseDestinations } from '../../lib/policy/destinations.js';
import type { Plan, ReplicationPlan } from '../../lib/plan/types.js';
import type { HoldRecord } from '../../lib/state/holds.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { at, cal, configOf, guidOf, hourly, inventoryOf, LEG, N, names, NEW, NOW, OZ, reachable, rows, withDecodedToken, type Snap } from './plan-fixtures.js';

const DOWN: DestinationState = { label: 'bk', reachable: false, error: 'connect ECONNREFUSED 192.0.2.7:22' };

interface Case {
  retention?: string;
  dest: string;
  source: Snap[];
  planned?: string;
  state: DestinationState;
  now?: number;
  dataset?: string;
  encrypted?: boolean;
}
const built: ReplicationPlan[] = [];
function plan(c: Case): ReplicationPlan {
  const dataset = c.dataset ?? 'p/a';
  const config = configOf(c.retention ?? '24h', c.dest, dataset);
  const src = inventoryOf({ [dataset]: { snaps: c.source } }).get(dataset)!;
  const p = planReplication({
    config,
    destination: config.destinations[0]!,
    snapshots: src.snapshots,
    ...(c.planned ? { planned: c.planned } : {}),
    ...(c.encrypted !== undefined ? { encrypted: c.encrypted } : {}),
    state: c.state,
    now: c.now ?? NOW,
    calendar: cal,
    names,
  });
  built.push(p);
  return p;
}
const steps = (p: ReplicationPlan) => p.sends.map((s) => [s.kind, s.from ?? null, s.to, s.delivers.length > 1 ? s.delivers : undefined]);
const RECV_OZ = (t: string) => ['zfs', 'receive', '-u', '-s', t];
/** A seed's receive on OpenZFS: the copy's marks set inside it (zfs receive -o). */
const SEED_OZ = (t: string, of = 'p/a', retention = '24h') => [
  'zfs',
  'receive',
  '-u',
  '-s',
  '-o',
  `org.wit:replica-of=localhost:${of}`,
  '-o',
  'canmount=noauto',
  '-o',
  `org.wit:replica-retention=${retention}`,
  t,
];

describe('planReplication: seeding a missing target', () => {
  test('full send of the oldest snapshot, then -I over the rest; missing parent created', () => {
    const [a, b, c] = hourly('11-25 09', 3) as [string, string, string];
    const p = plan({ dest: 'bk:tank/backups/a|hourly', source: [a, b, c], state: reachable({ tank: {} }) });
    expect(p.status).toBe('send');
    expect(p.common).toBeUndefined();
    expect(p.createParents).toEqual(['tank/backups']);
    expect(p.sends).toEqual([
      { kind: 'full', to: a, delivers: [a], sendArgv: ['zfs', 'send', `p/a@${a}`], recvArgv: SEED_OZ('tank/backups/a'), marksInReceive: true },
      { kind: 'incremental', from: a, to: c, delivers: [b, c], sendArgv: ['zfs', 'send', '-I', `p/a@${a}`, `p/a@${c}`], recvArgv: RECV_OZ('tank/backups/a') },
    ]);
    expect(p.newCommon).toBe(c);
    expect(p.targetDestroy).toEqual([]);
    expect(p.hostLabel).toBe('bk');
    expect(p.target).toBe('tank/backups/a');
    expect(p.sourceTag).toBe(sourceHoldTag('bk', 'tank/backups/a'));
    expect(p.sourceTag).toBe('zback:bk:tank/backups/a');
    expect(p.targetTag).toBe(TARGET_HOLD_TAG);
  });

  test('source hold tag: names host and target; hashed when too long for a hold tag', () => {
    expect(sourceHoldTag('root@bk:2222', 'tank/copy')).toBe('zback:root@bk:2222:tank/copy');
    const long = 'tank/' + 'x'.repeat(240);
    const tag = sourceHoldTag('bk', long);
    expect(tag).toMatch(/^zback:[0-9a-f]{32}$/);
    expect(sourceHoldTag('bk', long)).toBe(tag);
    expect(sourceHoldTag('bk2', long)).not.toBe(tag);
  });

  test('parent present → no createParents; a single snapshot → only the full send', () => {
    const a = at('11-25 09');
    const p = plan({ dest: 'bk:tank/a|hourly', source: [a], state: reachable({ tank: {} }) });
    expect(p.createParents).toBeUndefined();
    expect(steps(p)).toEqual([['full', null, a, undefined]]);
    expect(p.newCommon).toBe(a);
  });

  test('destination retention 7d on an hourly source: seed the oldest daily keeper, then -i jumps', () => {
    const src = hourly('11-23 20', 40); // 11-23 20:00 … 11-25 11:00
    const p = plan({ dest: 'bk:tank/a|hourly|7d', source: src, state: reachable({ tank: {} }) });
    expect(steps(p)).toEqual([
      ['full', null, at('11-23 20'), undefined],
      ['incremental', at('11-23 20'), at('11-24 00'), undefined],
      ['incremental', at('11-24 00'), at('11-25 00'), undefined],
      ['incremental', at('11-25 00'), at('11-25 11'), undefined],
    ]);
    for (const s of p.sends.slice(1)) expect(s.sendArgv[2]).toBe('-i');
    expect(p.sends.flatMap((s) => s.delivers)).toEqual([at('11-23 20'), at('11-24 00'), at('11-25 00'), at('11-25 11')]);
  });

  test('the seed is the oldest snapshot the destination keeps, not the oldest of the source', () => {
    const src = hourly('11-23 20', 40);
    const p = plan({ dest: 'bk:tank/a|hourly|2d', source: src, state: reachable({ tank: {} }) });
    expect(steps(p)).toEqual([
      ['full', null, at('11-24 00'), undefined],
      ['incremental', at('11-24 00'), at('11-25 00'), undefined],
      ['incremental', at('11-25 00'), at('11-25 11'), undefined],
    ]);
  });

  test('the snapshot this run takes is the newest and is where the seed ends', () => {
    const src = hourly('11-23 20', 40);
    const p = plan({ dest: 'bk:tank/a|hourly|7d', source: src, planned: NEW, state: reachable({ tank: {} }) });
    expect(steps(p).at(-1)).toEqual(['incremental', at('11-25 00'), NEW, undefined]);
    expect(p.sends.flatMap((s) => s.delivers)).not.toContain(at('11-25 11'));
    expect(p.newCommon).toBe(NEW);
  });

  test('foreign snapshots are never the seed', () => {
    const [a, b] = hourly('11-25 09', 2) as [string, string];
    const p = plan({ dest: 'bk:tank/a|hourly', source: ['manual', a, b], state: reachable({ tank: {} }) });
    expect(steps(p)).toEqual([
      ['full', null, a, undefined],
      ['incremental', a, b, undefined],
    ]);
  });

  test('nothing to seed with: no zback snapshot on the source → error, no sends', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: ['manual'], state: reachable({ tank: {} }) });
    expect(p.status).toBe('error');
    expect(p.message).toBe('nothing to seed bk:tank/a with: p/a has no zback snapshot yet');
    expect(p.sends).toEqual([]);
  });

  test('a local destination (no host) reads "local" and names the target alone', () => {
    const p = plan({ dest: 'tank/a|hourly', source: ['manual'], state: { ...reachable({ tank: {} }), label: 'local' } });
    expect(p.hostLabel).toBe('local');
    expect(p.message).toBe('nothing to seed tank/a with: p/a has no zback snapshot yet');
  });
});

describe('planReplication: incremental sends', () => {
  const src = hourly('11-25 06', 6); // 06 … 11
  const [s6, s7, s8, s9, s10, s11] = src as [string, string, string, string, string, string];

  test('destination keeps everything in between → one -I common newest', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: [s6, s7, s8, s9] } }) });
    expect(p.status).toBe('send');
    expect(p.common).toBe(s9);
    expect(p.sends).toEqual([
      { kind: 'incremental', from: s9, to: s11, delivers: [s10, s11], sendArgv: ['zfs', 'send', '-I', `p/a@${s9}`, `p/a@${s11}`], recvArgv: RECV_OZ('tank/a') },
    ]);
    expect(p.newCommon).toBe(s11);
    expect(p.createParents).toBeUndefined();
  });

  test('hourly source, destination retention 7d: -i jumps over what the destination would delete at once', () => {
    const hsrc = hourly('11-24 20', 16); // 11-24 20:00 … 11-25 11:00
    const p = plan({ dest: 'bk:tank/a|hourly|7d', source: hsrc, state: reachable({ tank: {}, 'tank/a': { snaps: [at('11-24 20')] } }) });
    expect(p.common).toBe(at('11-24 20'));
    expect(p.sends.map((s) => s.sendArgv)).toEqual([
      ['zfs', 'send', '-i', `p/a@${at('11-24 20')}`, `p/a@${at('11-25 00')}`],
      ['zfs', 'send', '-i', `p/a@${at('11-25 00')}`, `p/a@${at('11-25 11')}`],
    ]);
    expect(p.sends.flatMap((s) => s.delivers)).toEqual([at('11-25 00'), at('11-25 11')]);
    expect(p.newCommon).toBe(at('11-25 11'));
  });

  test('a run of kept snapshots after a gap travels with -I, the gap is jumped with -i', () => {
    const hsrc = hourly('11-24 20', 16);
    const p = plan({ dest: 'bk:tank/a|hourly|3h1d', source: hsrc, state: reachable({ tank: {}, 'tank/a': { snaps: [at('11-24 20')] } }) });
    expect(steps(p)).toEqual([
      ['incremental', at('11-24 20'), at('11-25 00'), undefined],
      ['incremental', at('11-25 00'), at('11-25 09'), undefined],
      ['incremental', at('11-25 09'), at('11-25 11'), [at('11-25 10'), at('11-25 11')]],
    ]);
    expect(p.sends.map((s) => s.sendArgv[2])).toEqual(['-i', '-i', '-I']);
  });

  test("this run's planned snapshot is the newest: sent (-i) and becomes the new common", () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, planned: NEW, state: reachable({ tank: {}, 'tank/a': { snaps: src } }) });
    expect(p.common).toBe(s11);
    expect(p.sends.map((s) => s.sendArgv)).toEqual([['zfs', 'send', '-i', `p/a@${s11}`, `p/a@${NEW}`]]);
    expect(p.newCommon).toBe(NEW);
    const q = plan({ dest: 'bk:tank/a|hourly', source: src, planned: NEW, state: reachable({ tank: {}, 'tank/a': { snaps: [s6, s7, s8, s9] } }) });
    expect(steps(q)).toEqual([['incremental', s9, NEW, [s10, s11, NEW]]]);
  });

  test('up to date: nothing newer on the source', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: src } }) });
    expect(p.status).toBe('up-to-date');
    expect(p.common).toBe(s11);
    expect(p.newCommon).toBeUndefined();
    expect(p.sends).toEqual([]);
    expect(p.message).toBeUndefined();
  });

  test("not due by the destination's schedule (daily): nextDue, no sends; due once the common is older than the tick", () => {
    const hsrc = hourly('11-24 22', 14); // 11-24 22:00 … 11-25 11:00
    const notDue = plan({ dest: 'bk:tank/a|daily', source: hsrc, state: reachable({ tank: {}, 'tank/a': { snaps: hsrc.slice(0, 3) } }) });
    expect(notDue.common).toBe(at('11-25 00'));
    expect(notDue.status).toBe('not-due');
    expect(notDue.nextDue).toBe(Date.parse('2026-11-26T00:00:00Z'));
    expect(notDue.sends).toEqual([]);
    expect(notDue.newCommon).toBeUndefined();

    const due = plan({ dest: 'bk:tank/a|daily', source: hsrc, state: reachable({ tank: {}, 'tank/a': { snaps: hsrc.slice(0, 2) } }) });
    expect(due.common).toBe(at('11-24 23'));
    expect(due.status).toBe('send');
    expect(due.nextDue).toBeUndefined();
    expect(due.newCommon).toBe(at('11-25 11'));
  });

  test("hourly schedule: a common taken after this hour's tick is not due, even with the planned snapshot waiting", () => {
    const late = names.nameFor(Date.parse('2026-11-25T12:01:00Z'));
    const p = plan({ dest: 'bk:tank/a|hourly', source: [s11, late], planned: NEW, state: reachable({ tank: {}, 'tank/a': { snaps: [s11, late] } }) });
    expect(p.status).toBe('not-due');
    expect(p.nextDue).toBe(Date.parse('2026-11-25T13:00:00Z'));
  });

  test('unreachable destination: status and message, nothing else', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, state: DOWN });
    expect(p.status).toBe('unreachable');
    expect(p.message).toBe('connect ECONNREFUSED 192.0.2.7:22');
    expect(p.sends).toEqual([]);
    expect(p.common).toBeUndefined();
    expect(p.targetDestroy).toEqual([]);
  });

  test('resume token (OpenZFS), decoded here and naming this dataset: one resume step `zfs send -t TOKEN` and nothing else', () => {
    const token = '1-e604ea4bf-e0-789c636064000310a500c4ec50360710e72765a5269740';
    const state = withDecodedToken(reachable({ tank: {}, 'tank/a': { snaps: [s6, s7], token } }), 'tank/a', 'p/a', s8);
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, planned: NEW, state });
    expect(p.status).toBe('resume');
    expect(p.sends).toEqual([{ kind: 'resume', to: s8, delivers: [], sendArgv: ['zfs', 'send', '-t', token], recvArgv: RECV_OZ('tank/a') }]);
    expect(p.newCommon).toBeUndefined();
    expect(p.createParents).toBeUndefined();
    expect(p.targetDestroy).toEqual([]);
    expect(p.targetDestroyArgvs).toEqual([]);
  });

  test('receive argv: -u always, -s only with resumable receive, never -F', () => {
    const oz = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: [s6] } }, OZ) });
    const leg = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: [s6] } }, LEG) });
    const seedLeg = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {} }, LEG) });
    expect(oz.sends.map((s) => s.recvArgv)).toEqual([['zfs', 'receive', '-u', '-s', 'tank/a']]);
    expect(leg.sends.map((s) => s.recvArgv)).toEqual([['zfs', 'receive', '-u', 'tank/a']]);
    expect(seedLeg.sends.map((s) => s.recvArgv)).toEqual([
      ['zfs', 'receive', '-u', 'tank/a'],
      ['zfs', 'receive', '-u', 'tank/a'],
    ]);
  });
});

describe('planReplication: encrypted datasets travel raw (zfs send -w)', () => {
  test('seed and incrementals of an encrypted dataset are raw sends; the receives are the usual ones', () => {
    const [a, b, c] = hourly('11-25 09', 3) as [string, string, string];
    const p = plan({ dest: 'bk:tank/a|hourly', source: [a, b, c], encrypted: true, state: reachable({ tank: {} }) });
    expect(p.status).toBe('send');
    expect(p.sends.map((s) => s.sendArgv)).toEqual([
      ['zfs', 'send', '-w', `p/a@${a}`],
      ['zfs', 'send', '-w', '-I', `p/a@${a}`, `p/a@${c}`],
    ]);
    expect(p.sends.map((s) => s.recvArgv)).toEqual([SEED_OZ('tank/a'), RECV_OZ('tank/a')]);

    const next = plan({
      dest: 'bk:tank/a|hourly',
      source: [a, b, c],
      planned: NEW,
      encrypted: true,
      state: reachable({ tank: {}, 'tank/a': { snaps: [a, b] } }),
    });
    expect(next.sends.map((s) => s.sendArgv)).toEqual([['zfs', 'send', '-w', '-I', `p/a@${b}`, `p/a@${NEW}`]]);
  });

  test('gaps jumped with -i stay raw too', () => {
    const src = hourly('11-23 00', 30);
    const p = plan({
      retention: '24h',
      dest: 'bk:tank/a|hourly|1d',
      source: src,
      encrypted: true,
      state: reachable({ tank: {}, 'tank/a': { snaps: [src[0]!] } }),
    });
    expect(p.sends.length).toBeGreaterThan(0);
    for (const s of p.sends) expect(s.sendArgv.slice(0, 3)).toEqual(['zfs', 'send', '-w']);
  });

  test('a destination whose ZFS cannot receive it raw: an error that says why; nothing is sent decrypted', () => {
    const [a, b] = hourly('11-25 09', 2) as [string, string];
    const p = plan({ dest: 'bk:tank/a|hourly', source: [a, b], encrypted: true, state: reachable({ tank: {} }, LEG) });
    expect(p.status).toBe('error');
    expect(p.sends).toEqual([]);
    expect(p.message).toBe(
      'p/a is encrypted, and the ZFS on bk (legacy ZFS (no `zfs version`: zfs-fuse or an old port)) cannot receive it encrypted (a raw send, zfs send -w). ' +
        'zback never sends encrypted data decrypted: replicate it to a host with OpenZFS 0.8 or newer.',
    );
  });

  test('not encrypted: plain sends, as before', () => {
    const [a, b] = hourly('11-25 09', 2) as [string, string];
    const p = plan({ dest: 'bk:tank/a|hourly', source: [a, b], encrypted: false, state: reachable({ tank: {} }) });
    expect(p.sends.map((s) => s.sendArgv)).toEqual([
      ['zfs', 'send', `p/a@${a}`],
      ['zfs', 'send', '-i', `p/a@${a}`, `p/a@${b}`],
    ]);
  });
});

describe('planReplication: the common snapshot is matched by guid', () => {
  const src = hourly('11-25 06', 6);
  const [, s7, s8, s9, s10, s11] = src as [string, string, string, string, string, string];

  test('a renamed snapshot on the target is still the common one', () => {
    const p = plan({
      dest: 'bk:tank/a|hourly',
      source: src,
      state: reachable({ tank: {}, 'tank/a': { snaps: [{ name: 'renamed-by-admin', guid: guidOf(s9) }] } }),
    });
    expect(p.status).toBe('send');
    expect(p.common).toBe(s9);
    expect(steps(p)).toEqual([['incremental', s9, s11, [s10, s11]]]);
  });

  test('same name, different guid: not a common snapshot → diverged, no sends', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: [{ name: s9, guid: 'elsewhere' }] } }) });
    expect(p.status).toBe('diverged');
    expect(p.common).toBeUndefined();
    expect(p.sends).toEqual([]);
    expect(p.message).toContain('bk:tank/a has no snapshot in common with p/a (compared by guid). zback never overwrites it');
    expect(p.message).toContain('zfs rename tank/a tank/a.old');
    expect(p.message).not.toMatch(/destroy -r|-F/);
  });

  test('a same-named snapshot with another guid after the real common one → diverged, named, rollback to the common', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: [s7, s8, { name: s9, guid: 'elsewhere' }] } }) });
    expect(p.status).toBe('diverged');
    expect(p.common).toBe(s8);
    expect(p.sends).toEqual([]);
    expect(p.message).toContain(`1 snapshot newer than the last common one (@${s8}): @${s9}.`);
    expect(p.message).toContain(`zfs rollback -r tank/a@${s8}`);
  });
});

describe('planReplication: divergence', () => {
  const src = hourly('11-25 06', 6);
  const [s6, s7, s8, s9] = src as [string, string, string, string];

  test('target snapshots newer than the common one: the message names them and gives the rollback', () => {
    const p = plan({
      dest: 'bk:tank/a|hourly',
      source: src,
      planned: NEW,
      state: reachable({ tank: {}, 'tank/a': { snaps: [s6, s7, 'manual-1', 'manual-2'] } }),
    });
    expect(p.status).toBe('diverged');
    expect(p.common).toBe(s7);
    expect(p.newCommon).toBeUndefined();
    expect(p.sends).toEqual([]);
    // The conflict as data (the newer snapshots as a list); its words come from lib/report/conflicts.ts.
    expect(p.conflict).toEqual({ kind: 'newer-on-target', common: s7, rollbackTo: s7, newer: ['manual-1', 'manual-2'], seededBase: [] });
    expect(p.message).toBe(
      `bk:tank/a has 2 snapshots newer than the last common one (@${s7}): @manual-1, @manual-2. zback does not destroy them. ` +
        `To continue replication, run on bk: zfs rollback -r tank/a@${s7}  (this destroys the newer snapshots on the destination).`,
    );
  });

  test('rollback names the snapshot as the target calls it (renamed common)', () => {
    const p = plan({
      dest: 'bk:tank/a|hourly',
      source: src,
      state: reachable({ tank: {}, 'tank/a': { snaps: [{ name: 'kept-by-hand', guid: guidOf(s8) }, 'later'] } }),
    });
    expect(p.status).toBe('diverged');
    expect(p.common).toBe(s8);
    expect(p.message).toContain(`(@${s8}): @later.`);
    expect(p.message).toContain('zfs rollback -r tank/a@kept-by-hand');
  });

  test('no snapshot in common at all', () => {
    const p = plan({ dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: ['other-1', { name: 'x', guid: 'zz' }] } }) });
    expect(p.status).toBe('diverged');
    expect(p.message).toContain('has no snapshot in common with p/a (compared by guid)');
    expect(p.sends).toEqual([]);
  });

  test('target exists with no snapshot: diverged, moving it aside is the fix (never destroy -r), nothing sent or created', () => {
    const p = plan({ dest: 'bk:tank/x/a|hourly', source: src, planned: NEW, state: reachable({ tank: {}, 'tank/x/a': {} }) });
    expect(p.status).toBe('diverged');
    expect(p.sends).toEqual([]);
    expect(p.createParents).toBeUndefined();
    expect(p.message).toContain('bk:tank/x/a exists but has no snapshot, so zback cannot tell it is a copy of p/a. zback never overwrites it');
    expect(p.message).toContain('zfs rename tank/x/a tank/x/a.old');
    expect(p.message).not.toMatch(/destroy -r|-F/);
  });

  test('a pool root cannot be a destination: rejected when the property is read, with what to write instead', () => {
    // A full stream into an existing pool root needs `zfs recv -F`, which zback never uses, and no
    // rename or destroy can make room for it: such a destination could never be seeded.
    expect(() => parseDestinations('bk:tank|hourly')).toThrow(/the root dataset of pool "tank" cannot receive a copy.*tank\/<name>/);
  });

  test('names with spaces are quoted in the rename fix', () => {
    const p = plan({ dest: 'bk:tank/my copy|hourly', source: src, state: reachable({ tank: {}, 'tank/my copy': { snaps: ['manual'] } }) });
    expect(p.status).toBe('diverged');
    // ZFS allows spaces in dataset names and zback accepts them in destinations: the advice must paste.
    expect(p.message).toContain("zfs rename 'tank/my copy' 'tank/my copy.old'");
  });

  test('no destroy on the target while diverged', () => {
    const p = plan({ retention: '1h', dest: 'bk:tank/a|hourly', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: [s6, s7, s8, s9, 'manual'] } }) });
    expect(p.status).toBe('diverged');
    expect(p.targetDestroy).toEqual([]);
    expect(p.targetDestroyArgvs).toEqual([]);
  });
});

describe('planReplication: pruning the destination after the sends', () => {
  const src = hourly('11-25 06', 6);
  const [s6, s7, s8, s9, s10, s11] = src as [string, string, string, string, string, string];
  // 07 has a user hold, 09 (the common) only zback's own hold; a foreign snapshot sits in between.
  const target = { tank: {}, 'tank/a': { snaps: [s6, 'before-upgrade', { name: s7, userrefs: 1 }, s8, { name: s9, userrefs: 1 }] } };

  test("keeps the new common, held snapshots and foreign ones; the old common with only zback's hold goes", () => {
    const p = plan({ dest: 'bk:tank/a|hourly|2h', source: src, state: reachable(target) });
    expect(steps(p)).toEqual([['incremental', s9, s11, [s10, s11]]]);
    expect(p.targetDestroy).toEqual([s6, s8, s9]);
    expect(p.targetDestroyArgvs).toEqual([['zfs', 'destroy', `tank/a@${s6},${s8},${s9}`]]);
    const why = Object.fromEntries(p.targetDecisions.map((d) => [d.name, d.reasons]));
    expect(why[s7]).toEqual(['held (1 user hold)']);
    expect(why[s11]).toContain('last common snapshot with the source');
    expect(why[s9]).toEqual([]);
    expect(p.targetDecisions.map((d) => d.name)).not.toContain('before-upgrade');
  });

  test('legacy ZFS: one destroy per snapshot', () => {
    const p = plan({ dest: 'bk:tank/a|hourly|2h', source: src, state: reachable(target, LEG) });
    expect(p.targetDestroyArgvs).toEqual([
      ['zfs', 'destroy', `tank/a@${s6}`],
      ['zfs', 'destroy', `tank/a@${s8}`],
      ['zfs', 'destroy', `tank/a@${s9}`],
    ]);
  });

  test("no destination retention: the source's is used; a longer destination retention keeps more", () => {
    const same = plan({ retention: '2h', dest: 'bk:tank/a|hourly', source: src, state: reachable(target) });
    expect(same.targetDestroy).toEqual([s6, s8, s9]);
    const longer = plan({ retention: '2h', dest: 'bk:tank/a|hourly|24h', source: src, state: reachable(target) });
    expect(longer.targetDestroy).toEqual([]);
  });

  test("a user hold on the common snapshot itself still counts (one of two holds is zback's)", () => {
    const t = { tank: {}, 'tank/a': { snaps: [s6, s7, s8, { name: s9, userrefs: 2 }] } };
    const p = plan({ dest: 'bk:tank/a|hourly|2h', source: src, state: reachable(t) });
    expect(p.targetDestroy).toEqual([s6, s7, s8]);
    expect(p.targetDecisions.find((d) => d.name === s9)!.reasons).toEqual(['held (1 user hold)']);
  });

  test('up to date / not due: the common is kept, older snapshots pruned by the destination retention', () => {
    const up = plan({ dest: 'bk:tank/a|hourly|2h', source: src, state: reachable({ tank: {}, 'tank/a': { snaps: src } }) });
    expect(up.status).toBe('up-to-date');
    expect(up.targetDestroy).toEqual([s6, s7, s8, s9]);
    const hsrc = hourly('11-24 22', 14);
    const nd = plan({ dest: 'bk:tank/a|daily|1h', source: hsrc, state: reachable({ tank: {}, 'tank/a': { snaps: hsrc.slice(0, 3) } }) });
    expect(nd.status).toBe('not-due');
    expect(nd.targetDestroy).toEqual([at('11-24 22'), at('11-24 23')]);
    expect(nd.targetDecisions.find((d) => d.name === at('11-25 00'))!.reasons).toContain('last common snapshot with the source');
  });

  test('nothing that arrives in this run is on the destroy list', () => {
    const hsrc = hourly('11-24 20', 16);
    const p = plan({ dest: 'bk:tank/a|hourly|1d', source: hsrc, planned: NEW, state: reachable({ tank: {}, 'tank/a': { snaps: hsrc.slice(0, 3) } }) });
    const delivered = p.sends.flatMap((s) => s.delivers);
    expect(delivered.length).toBeGreaterThan(0);
    for (const d of delivered) expect(p.targetDestroy).not.toContain(d);
    expect(p.targetDestroy).toEqual(hsrc.slice(0, 3));
  });
});

describe('orderNestedSeeds', () => {
  const src = hourly('11-25 09', 3);

  test('a child target under a parent being seeded waits for it and does not create it', () => {
    const state = reachable({ tank: {} });
    const parent = plan({ dest: 'bk:tank/copy|hourly', source: src, state });
    const child = plan({ dataset: 'p/a/b', dest: 'bk:tank/copy/b|hourly', source: src, state });
    expect(child.createParents).toEqual(['tank/copy']);
    orderNestedSeeds([parent, child]);
    expect(child.after).toBe('tank/copy');
    expect(child.createParents).toBeUndefined();
    expect(child.status).toBe('send');
    expect(child.sends[0]!.kind).toBe('full');
    expect(parent.after).toBeUndefined();
  });

  test('a grandchild waits for the nearest ancestor in the run; the missing level in between is still created', () => {
    const state = reachable({ tank: {} });
    const parent = plan({ dest: 'bk:tank/copy|hourly', source: src, state });
    const grandchild = plan({ dataset: 'p/a/b/c', dest: 'bk:tank/copy/b/c|hourly', source: src, state });
    orderNestedSeeds([grandchild, parent]);
    expect(grandchild.after).toBe('tank/copy');
    expect(grandchild.createParents).toEqual(['tank/copy/b']);
  });

  test.each([
    ['diverged', reachable({ tank: {}, 'tank/copy': { snaps: ['foreign'] } })],
    ['unreachable', DOWN],
  ])('the parent cannot be seeded (%s): the child is an error with no sends', (status, parentState) => {
    const parent = plan({ dest: 'bk:tank/copy|hourly', source: src, state: parentState });
    const child = plan({ dataset: 'p/a/b', dest: 'bk:tank/copy/b|hourly', source: src, state: reachable({ tank: {} }) });
    expect(parent.status).toBe(status);
    orderNestedSeeds([parent, child]);
    expect(child.status).toBe('error');
    expect(child.message).toBe(`waits for tank/copy to be seeded first (${status}: ${parent.message})`);
    expect(child.sends).toEqual([]);
    expect(child.createParents).toBeUndefined();
    expect(child.newCommon).toBeUndefined();
    expect(child.after).toBeUndefined();
  });

  test('the parent has nothing to seed with (error): the child is an error too', () => {
    const state = reachable({ tank: {} });
    const parent = plan({ dest: 'bk:tank/copy|hourly', source: [], state });
    const child = plan({ dataset: 'p/a/b', dest: 'bk:tank/copy/b|hourly', source: src, state });
    orderNestedSeeds([parent, child]);
    expect(child.status).toBe('error');
    expect(child.message).toMatch(/^waits for tank\/copy to be seeded first \(error: nothing to seed/);
  });

  test('the parent is already there (up to date): the child seeds on its own', () => {
    const state = reachable({ tank: {}, 'tank/copy': { snaps: src } });
    const parent = plan({ dest: 'bk:tank/copy|hourly', source: src, state });
    const child = plan({ dataset: 'p/a/b', dest: 'bk:tank/copy/b|hourly', source: src, state });
    expect(parent.status).toBe('up-to-date');
    orderNestedSeeds([parent, child]);
    expect(child.status).toBe('send');
    expect(child.after).toBeUndefined();
    expect(child.createParents).toBeUndefined();
  });

  test('another host is another tree', () => {
    const parent = plan({ dest: 'bk:tank/copy|hourly', source: src, state: reachable({ tank: {} }) });
    const child = plan({ dataset: 'p/a/b', dest: 'bk2:tank/copy/b|hourly', source: src, state: reachable({ tank: {} }, OZ, 'bk2') });
    orderNestedSeeds([parent, child]);
    expect(child.after).toBeUndefined();
    expect(child.createParents).toEqual(['tank/copy']);
  });
});

describe('buildPlan with destinations: protecting source snapshots', () => {
  const DEST = 'bk:tank/copy|hourly';
  const KEY = 'bk:tank/copy';
  interface P {
    retention: string;
    destinations: string;
    snaps: Snap[];
  }
  function build(p: P, states: Map<string, DestinationState>, extra: Record<string, P> = {}, holds: HoldRecord[] = []): Plan {
    const all = { 'p/a': p, ...extra };
    const propRows = Object.entries(all).flatMap(([d, x]) => rows(d, { snapshot: 'yes', retention: x.retention, destinations: x.destinations }));
    const inventory = inventoryOf(Object.fromEntries(Object.entries(all).map(([d, x]) => [d, { snaps: x.snaps }])));
    return buildPlan({ configs: resolveConfigs(propRows, N), inventory, caps: OZ, now: NOW, calendar: cal, names, destinations: states, holds });
  }
  const ds = (p: Plan, name = 'p/a') => p.datasets.find((d) => d.dataset === name)!;
  const reasons = (p: Plan, snap: string) => ds(p).decisions.find((d) => d.name === snap)!.reasons;
  const old = at('11-23 05');
  const today = hourly('11-25 00', 12); // 00 … 11

  const sourceHold = (snapshot: string, host = 'bk', target = 'tank/copy'): HoldRecord => ({
    role: 'source',
    host: 'local',
    dataset: 'p/a',
    snapshot,
    tag: sourceHoldTag(host, target),
  });
  // zback's own holds are the ones its ledger records placing; any other hold is a user's.

  test('replicationKey', () => {
    expect(replicationKey({ hostLabel: 'bk', target: 'tank/copy' })).toBe(KEY);
    expect(replicationKey({ hostLabel: 'local', target: 'tank/copy' })).toBe('tank/copy');
  });

  test('the new common is a base; the old one (zback hold only) is destroyed after the send, not before', () => {
    const p = build(
      { retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 1 }, ...today] },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [old] } })]]),
      {},
      [sourceHold(old)],
    );
    const r = p.replications[0]!;
    expect(r.status).toBe('send');
    expect(r.common).toBe(old);
    expect(r.newCommon).toBe(NEW);
    const a = ds(p);
    expect(a.newSnapshot).toBe(NEW);
    expect(reasons(p, NEW)).toContain(`base for ${KEY}`);
    expect(reasons(p, old)).toEqual([`base for ${KEY} until this run's send succeeds`]);
    expect(reasons(p, old).join()).not.toMatch(/held/);
    expect(a.destroy).not.toContain(old);
    expect(a.destroy).toEqual(today.slice(0, 7)); // 6 hourly: 07 … 11 and the new one
    expect(a.destroyAfterSend).toEqual([{ name: old, after: [KEY] }]);
    expect(p.destroys[0]!.snapshots).not.toContain(old);
  });

  test('a base that another rule keeps is not destroyed after the send', () => {
    const common = at('11-25 09');
    const p = build(
      { retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 0 }, ...today.slice(0, 9), { name: common, userrefs: 1 }, ...today.slice(10)] },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [common] } })]]),
    );
    expect(p.replications[0]!.common).toBe(common);
    expect(ds(p).destroyAfterSend).toEqual([]);
    expect(reasons(p, common)).toContain(`base for ${KEY} until this run's send succeeds`);
    expect(reasons(p, common).some((r) => r.startsWith('hourly'))).toBe(true);
    expect(ds(p).destroy).toContain(old);
  });

  test("a user hold besides zback's on the common: held, and not destroyed after the send", () => {
    const p = build(
      { retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 2 }, ...today] },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [old] } })]]),
      {},
      [sourceHold(old)],
    );
    expect(reasons(p, old)).toContain('held (1 user hold)');
    expect(ds(p).destroyAfterSend).toEqual([]);
    expect(ds(p).destroy).not.toContain(old);
  });

  test('not due: the common (kept by nothing else) is kept as a base', () => {
    const hsrc = hourly('11-24 22', 14);
    const p = build(
      { retention: '1h', destinations: 'bk:tank/copy|daily', snaps: hsrc },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: hsrc.slice(0, 3) } })]]),
    );
    expect(p.replications[0]!.status).toBe('not-due');
    expect(reasons(p, at('11-25 00'))).toEqual([`base for ${KEY}`]);
    expect(ds(p).destroy).not.toContain(at('11-25 00'));
    expect(ds(p).destroyAfterSend).toEqual([]);
  });

  test('two destinations share the common: both send → destroyed after both sends; one not due → kept', () => {
    const hsrc = hourly('11-24 22', 14); // 11-24 22:00 … 11-25 11:00
    const base = at('11-24 23');
    const snaps: Snap[] = hsrc.map((s) => (s === base ? { name: s, userrefs: 2 } : s)); // zback's holds for bk and bk2
    const target = { tank: {}, 'tank/copy': { snaps: hsrc.slice(0, 2) } };
    const states = new Map([
      ['bk', reachable(target)],
      ['bk2', reachable(target, OZ, 'bk2')],
    ]);
    const ledger = [sourceHold(base), sourceHold(base, 'bk2')];
    const both = build({ retention: '1h', destinations: 'bk:tank/copy|hourly,bk2:tank/copy|hourly', snaps }, states, {}, ledger);
    expect(both.replications.map((r) => [r.status, r.common])).toEqual([
      ['send', base],
      ['send', base],
    ]);
    expect(reasons(both, base).join()).not.toMatch(/held/);
    expect(ds(both).destroy).not.toContain(base);
    expect(ds(both).destroyAfterSend).toEqual([{ name: base, after: [KEY, 'bk2:tank/copy'] }]);

    // bk2 replicates daily at 22:00: its common (23:00) is newer than that tick.
    const mixed = build({ retention: '1h', destinations: 'bk:tank/copy|hourly,bk2:tank/copy|0 22 * * *', snaps }, states, {}, ledger);
    expect(mixed.replications.map((r) => r.status)).toEqual(['send', 'not-due']);
    expect(reasons(mixed, base)).toEqual(['base for bk2:tank/copy', `base for ${KEY} until this run's send succeeds`]);
    expect(ds(mixed).destroy).not.toContain(base);
    expect(ds(mixed).destroyAfterSend).toEqual([]);
  });

  test.each([
    ['not contacted', new Map<string, DestinationState>()],
    ['unreachable', new Map([['bk', DOWN]])],
  ])('destination %s: a held snapshot stays kept', (_what, states) => {
    const p = build({ retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 1 }, ...today] }, states);
    expect(p.replications[0]!.status).toBe('unreachable');
    expect(reasons(p, old)).toEqual(['held (1 user hold)']);
    expect(ds(p).destroy).not.toContain(old);
    expect(ds(p).destroyAfterSend).toEqual([]);
  });

  test('an interrupted receive being resumed keeps every snapshot', () => {
    const state = withDecodedToken(reachable({ tank: {}, 'tank/copy': { snaps: [old], token: '1-abc-def' } }), 'tank/copy', 'p/a', today[0]!);
    const p = build({ retention: '1h', destinations: DEST, snaps: [old, ...today] }, new Map([['bk', state]]));
    expect(p.replications[0]!.status).toBe('resume');
    expect(ds(p).destroy).toEqual([]);
    expect(ds(p).destroyAfterSend).toEqual([]);
    expect(p.destroys).toEqual([]);
    for (const d of ds(p).decisions) {
      expect(d.keep).toBe(true);
      expect(d.reasons).toContain(`an interrupted receive on ${KEY} is being resumed`);
    }
    expect(ds(p).decisions.map((d) => d.name)).toContain(NEW);
  });

  test('snapshots a send delivers are kept until that send succeeded, then destroyed with the old base', () => {
    const src = hourly('11-25 06', 6); // 06 … 11
    const p = build(
      { retention: '1h', destinations: 'bk:tank/copy|hourly|24h', snaps: [{ name: src[0]!, userrefs: 1 }, ...src.slice(1)] },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [src[0]!] } })]]),
      {},
      [sourceHold(src[0]!)],
    );
    const r = p.replications[0]!;
    expect(steps(r)).toEqual([['incremental', src[0], NEW, [...src.slice(1), NEW]]]);
    expect(ds(p).destroy).toEqual([]);
    expect(reasons(p, src[3]!)).toEqual([`sent to ${KEY} in this run`]);
    expect(ds(p).destroyAfterSend).toEqual(src.map((name) => ({ name, after: [KEY] })));
    expect(reasons(p, NEW)).toContain(`base for ${KEY}`);
    expect(p.staleHolds).toEqual([]);
  });

  test('a seed: the snapshots it delivers are kept until it succeeded', () => {
    const src = hourly('11-25 06', 6);
    const p = build({ retention: '1h', destinations: 'bk:tank/copy|hourly|24h', snaps: src }, new Map([['bk', reachable({ tank: {} })]]));
    expect(p.replications[0]!.sends[0]!.kind).toBe('full');
    expect(ds(p).destroy).toEqual([]);
    expect(ds(p).destroyAfterSend.map((d) => d.name)).toEqual(src);
  });

  test('unreachable destination: the base recorded in the hold ledger is kept as a base, not only as held', () => {
    const p = build({ retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 1 }, ...today] }, new Map([['bk', DOWN]]), {}, [sourceHold(old)]);
    expect(reasons(p, old)).toContain(`base for ${KEY} (unreachable now)`);
    expect(ds(p).destroy).not.toContain(old);
    expect(p.staleHolds).toEqual([]);
    // Even if the hold itself were gone (userrefs 0), the record keeps it.
    const q = build({ retention: '6h', destinations: DEST, snaps: [old, ...today] }, new Map([['bk', DOWN]]), {}, [sourceHold(old)]);
    expect(reasons(q, old)).toEqual([`base for ${KEY} (unreachable now)`]);
  });

  test('a stale zback hold (no longer the base) is released and does not count as a user hold', () => {
    const common = at('11-25 09');
    const p = build(
      { retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 1 }, ...today.slice(0, 9), { name: common, userrefs: 1 }, ...today.slice(10)] },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [common] } })]]),
      {},
      [sourceHold(old), sourceHold(common)],
    );
    expect(p.staleHolds).toEqual([{ ...sourceHold(old), why: `no longer the base for ${KEY}`, replication: KEY }]);
    expect(reasons(p, old)).toEqual([]);
    expect(ds(p).destroy).toContain(old);
  });

  test('a hold for a destination that is no longer configured is stale', () => {
    const p = build(
      { retention: '6h', destinations: DEST, snaps: [{ name: old, userrefs: 1 }, ...today] },
      new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [old] } })]]),
      {},
      [sourceHold(old), sourceHold(today[3]!, 'gone-host', 'pool/x')],
    );
    expect(p.staleHolds).toEqual([{ ...sourceHold(today[3]!, 'gone-host', 'pool/x'), why: 'its destination is no longer configured' }]);
  });

  test('nested seeds through buildPlan: the child waits for the parent', () => {
    const p = build({ retention: '6h', destinations: DEST, snaps: today }, new Map([['bk', reachable({ tank: {} })]]), {
      'p/a/b': { retention: '6h', destinations: 'bk:tank/copy/b|hourly', snaps: today },
    });
    const child = p.replications.find((r) => r.dataset === 'p/a/b')!;
    expect(child.after).toBe('tank/copy');
    expect(child.createParents).toBeUndefined();
  });
});

test('no plan built in this file receives with -F (or sends with -R/-F)', () => {
  expect(built.length).toBeGreaterThan(40);
  for (const p of built)
    for (const s of p.sends) {
      expect(s.recvArgv).not.toContain('-F');
      expect(s.sendArgv).not.toContain('-R');
      expect(s.recvArgv.slice(0, 3)).toEqual(['zfs', 'receive', '-u']);
    }
});
