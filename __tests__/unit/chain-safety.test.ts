/**
 * SPEC §9: the plan is the whole truth, the safety interlock refuses what would cut a chain, and a
 * destination whose pool or target is missing is a failure, not a fresh start.
 */
import { describe, expect, test } from '@jest/globals';
import { buildPlan, type PlanHistory, type ReseedRequest } from '../../lib/plan/planner.js';
import { sourceHoldTag, TARGET_HOLD_TAG, type DestinationState } from '../../lib/plan/replication.js';
import type { Action, Plan } from '../../lib/plan/types.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { applyRefusals, checkPlan } from '../../lib/safety/interlock.js';
import type { HoldRecord } from '../../lib/state/holds.js';
import { at, cal, hourly, inventoryOf, N, names, NEW, NOW, OZ, reachable, rows, withDecodedToken, type Snap } from './plan-fixtures.js';

const KEY = 'bk:tank/copy';
const old = at('11-23 05');
const today = hourly('11-25 00', 12); // 00 … 11
const DOWN: DestinationState = { label: 'bk', reachable: false, error: 'connect ECONNREFUSED' };
const sourceHold = (snapshot: string, host = 'bk', target = 'tank/copy', dataset = 'p/a'): HoldRecord => ({
  role: 'source',
  host: 'local',
  dataset,
  snapshot,
  tag: sourceHoldTag(host, target),
});
const targetHold = (snapshot: string, host = 'bk'): HoldRecord => ({ role: 'target', host, dataset: 'tank/copy', snapshot, tag: TARGET_HOLD_TAG });

interface World {
  retention?: string;
  destinations?: string;
  snaps?: Snap[];
  states?: Map<string, DestinationState>;
  holds?: HoldRecord[];
  history?: PlanHistory;
  reseed?: ReseedRequest[];
  localDatasets?: string[];
  now?: number;
}
function world(w: World) {
  const propRows = rows('p/a', { snapshot: 'yes', retention: w.retention ?? '6h', destinations: w.destinations ?? 'bk:tank/copy|hourly' });
  const configs = resolveConfigs(propRows, N);
  const inventory = inventoryOf({ 'p/a': { snaps: w.snaps ?? [{ name: old, userrefs: 1 }, ...today] } });
  const input = {
    configs,
    inventory,
    caps: OZ,
    now: w.now ?? NOW,
    calendar: cal,
    names,
    destinations: w.states ?? new Map([['bk', DOWN]]),
    holds: w.holds ?? [],
    localDatasets: new Set(w.localDatasets ?? ['p', 'p/a']),
    ...(w.history ? { history: w.history } : {}),
    ...(w.reseed ? { reseed: w.reseed } : {}),
  };
  const plan = buildPlan(input);
  const check = (actions: readonly Action[] = plan.actions) =>
    checkPlan({ actions, configs, inventory, destinations: input.destinations, holds: input.holds, replicated: w.history?.replicated ?? [], names });
  return { plan, check };
}
const ds = (p: Plan, name = 'p/a') => p.datasets.find((d) => d.dataset === name)!;
const reasons = (p: Plan, snap: string) => ds(p).decisions.find((d) => d.name === snap)!.reasons;
const ops = (p: Plan) => p.actions.map((a) => `${a.op} ${a.host === 'local' ? '' : `[${a.host}] `}${a.argv.slice(1).join(' ')}`);
/** What the run destroys on this machine, whatever the condition. */
const destroyed = (p: Plan) => p.actions.filter((a) => a.op === 'destroy' && a.host === 'local').flatMap((a) => a.snapshots);

describe('a destination whose pool or target is missing is a failure, and its base survives', () => {
  const withPool = (spec: Parameters<typeof reachable>[0]) => new Map([['bk', reachable(spec)]]);

  test('the pool is not imported (host up): error that names the pool and the fix; base kept and held, the rest pruned', () => {
    const { plan, check } = world({ states: withPool({ other: {} }), holds: [sourceHold(old)] });
    const r = plan.replications[0]!;
    expect([r.status, r.conflict?.kind]).toEqual(['error', 'pool-missing']);
    expect(r.message).toMatch(
      /^the pool tank is not imported on bk \(or does not exist there\), so bk:tank\/copy cannot be reached; its base p\/a@2026-11-23-050000 stays held/,
    );
    expect(r.message).toContain('zpool import tank');
    expect(reasons(plan, old)).toEqual([`base for ${KEY} (pool-missing now)`]);
    expect(destroyed(plan)).toEqual(today.slice(0, 7));
    expect(ops(plan).filter((o) => /create|send|release/.test(o))).toEqual([]);
    expect(check()).toEqual([]);
  });

  test('a pool that never existed (never seeded): the same error, not "zfs create -p coldpool"', () => {
    const { plan } = world({ destinations: 'bk:coldpool/copy|hourly', states: withPool({ tank: {} }), holds: [] });
    expect(plan.replications[0]!.conflict?.kind).toBe('pool-missing');
    expect(plan.actions.some((a) => a.op === 'create-parent' || a.op === 'send')).toBe(false);
  });

  test.each([
    ['its recorded hold', { holds: [sourceHold(old)] }],
    ["the last run's state", { history: { managed: ['p/a'], replicated: [{ dataset: 'p/a', replication: KEY, snapshot: old }] } }],
    ['a hold under another spelling of the host', { holds: [sourceHold(old, 'root@bk:22')] }],
  ])('target missing after an earlier seed (known from %s): no re-seed; the fix and --reseed named', (_what, extra) => {
    const { plan, check } = world({ states: withPool({ tank: {} }), ...extra });
    const r = plan.replications[0]!;
    expect([r.status, r.conflict?.kind]).toEqual(['error', 'target-missing']);
    expect(r.message).toMatch(/^bk:tank\/copy is missing, but zback seeded it before; its base p\/a@2026-11-23-050000 stays held/);
    expect(r.message).toContain('zback run --reseed p/a=bk:tank/copy');
    expect(r.sends).toEqual([]);
    expect(destroyed(plan)).not.toContain(old);
    expect(reasons(plan, old)).toContain(`base for ${KEY} (target-missing now)`);
    expect(check()).toEqual([]);
  });

  test('never seeded: a missing target is seeded as before', () => {
    const { plan } = world({ states: withPool({ tank: {} }), snaps: today });
    expect(plan.replications[0]!.sends[0]!.kind).toBe('full');
  });

  test('--reseed: a new full copy; the old base goes only once the new copy has its base', () => {
    const { plan, check } = world({ states: withPool({ tank: {} }), holds: [sourceHold(old)], reseed: [{ dataset: 'p/a', destination: 'root@bk:tank/copy' }] });
    const r = plan.replications[0]!;
    expect(r.status).toBe('send');
    expect(r.sends[0]!.kind).toBe('full');
    const lastSend = plan.actions.filter((a) => a.op === 'send').pop()!;
    const hold = plan.actions.find((a) => a.op === 'hold' && a.host === 'local')!;
    expect(hold.after).toEqual([lastSend.id]);
    const release = plan.actions.find((a) => a.op === 'release' && a.snapshots[0] === old)!;
    expect(release.after).toEqual([hold.id]);
    const destroyOld = plan.actions.find((a) => a.op === 'destroy' && a.snapshots.includes(old))!;
    expect(destroyOld.after).toEqual(expect.arrayContaining([lastSend.id, release.id]));
    expect(check()).toEqual([]);
  });

  test('no snapshot in common (an unrelated dataset in its place): diverged; base kept and not released; --reseed named', () => {
    const { plan, check } = world({
      states: withPool({ tank: {}, 'tank/copy': { snaps: [{ name: at('11-25 03'), guid: 'other' }] } }),
      holds: [sourceHold(old), targetHold(old)],
    });
    const r = plan.replications[0]!;
    expect([r.status, r.conflict?.kind]).toEqual(['diverged', 'no-common']);
    expect(r.message).toContain('zback run --reseed p/a=bk:tank/copy');
    expect(plan.staleHolds).toEqual([]);
    expect(destroyed(plan)).not.toContain(old);
    expect(check()).toEqual([]);
  });

  test("re-spelled while the host is down (bk → root@bk): the old tag's base is kept, its hold not released", () => {
    const { plan, check } = world({
      destinations: 'root@bk:tank/copy|hourly',
      states: new Map([['root@bk', { ...DOWN, label: 'root@bk' }]]),
      holds: [sourceHold(old)],
    });
    expect(plan.staleHolds).toEqual([]);
    expect(reasons(plan, old)).toEqual(['base for root@bk:tank/copy (unreachable now)']);
    expect(destroyed(plan)).not.toContain(old);
    expect(check()).toEqual([]);
  });

  test('re-spelled, host back: the new tag holds the base first, then the old tag is released', () => {
    const { plan, check } = world({
      destinations: 'BK:22:tank/copy|hourly',
      states: new Map([['BK:22', reachable({ tank: {}, 'tank/copy': { snaps: [old] } }, OZ, 'BK:22')]]),
      holds: [sourceHold(old)],
    });
    const stale = plan.actions.find((a) => a.op === 'release' && a.tag === sourceHoldTag('bk', 'tank/copy'))!;
    const newHold = plan.actions.find((a) => a.op === 'hold' && a.tag === sourceHoldTag('BK:22', 'tank/copy'))!;
    expect(stale.after).toEqual([newHold.id]);
    expect(check()).toEqual([]);
  });

  test("a managed dataset that disappeared: an error per dataset from the state's memory; its holds are kept", () => {
    const { plan } = world({
      states: withPool({ tank: {}, 'tank/copy': { snaps: [old] } }),
      holds: [sourceHold(old), sourceHold(old, 'bk', 'tank/g', 'p/gone'), sourceHold(old, 'bk', 'tank/h', 'q/gone')],
      history: { managed: ['p/a', 'p/gone'], replicated: [] },
      localDatasets: ['p', 'p/a'],
    });
    const gone = plan.datasets.filter((d) => d.missing).map((d) => [d.dataset, d.error]);
    expect(gone).toEqual([
      ['p/gone', expect.stringMatching(/^p\/gone: zback managed it, but it is not there now \(renamed or destroyed\?\).*zback forget 'p\/gone'/)],
      ['q/gone', expect.stringMatching(/the pool q is not imported\).*zpool import q/)],
    ]);
    expect(plan.staleHolds.filter((h) => h.dataset !== 'p/a')).toEqual([]);
  });
});

describe('the safety interlock refuses hand-made bad plans, one per rule', () => {
  const base = at('11-25 09');
  const snaps: Snap[] = [old, ...today.slice(0, 9), { name: base, userrefs: 1 }, 'manual', { name: today[10]!, userrefs: 1 }, today[11]!];
  // The copy has the base and, after it, a snapshot of its own (diverged): the base is not its newest.
  const states = new Map([
    [
      'bk',
      reachable({
        tank: {},
        'tank/copy': {
          snaps: [
            { name: base, userrefs: 1 },
            { name: today[11]!, guid: 'its own' },
          ],
        },
      }),
    ],
  ]);
  const holds = [sourceHold(base), targetHold(base)];
  const { plan, check } = world({ snaps, states, holds, retention: '24h' });
  let n = 0;
  const act = (a: Partial<Action> & Pick<Action, 'op' | 'argv' | 'snapshots'>): Action => ({
    id: `x${++n}`,
    phase: 'prune',
    host: 'local',
    dataset: 'p/a',
    target: 'p/a',
    after: [],
    why: 'hand-made',
    ...a,
  });
  const destroy = (snap: string, extra: Partial<Action> = {}) => act({ op: 'destroy', argv: ['zfs', 'destroy', `p/a@${snap}`], snapshots: [snap], ...extra });
  const rules = (actions: Action[]) => check(actions).map((r) => [r.rule, r.snapshot]);

  test("the planner's own plan passes", () => expect(check()).toEqual([]));

  test.each([
    ['foreign', () => [destroy('manual')], [['foreign', 'manual']]],
    ['newest', () => [destroy(today[11]!)], [['newest', today[11]!]]],
    ['held by someone else', () => [destroy(today[10]!)], [['held', today[10]!]]],
    ['unknown snapshot', () => [destroy('2026-01-01-000000')], [['unknown', '2026-01-01-000000']]],
    ['the base, unconditioned', () => [destroy(base, { argv: ['zfs', 'destroy', `p/a@${base}`] })], [['base', base]]],
    [
      "a hold that is not zback's",
      () => [act({ op: 'release', argv: ['zfs', 'release', 'backup', `p/a@${old}`], snapshots: [old], tag: 'backup' })],
      [['not-zback', old]],
    ],
    [
      "the base's hold, unconditioned",
      () => [
        act({
          op: 'release',
          argv: ['zfs', 'release', sourceHoldTag('bk', 'tank/copy'), `p/a@${base}`],
          snapshots: [base],
          tag: sourceHoldTag('bk', 'tank/copy'),
          replication: KEY,
        }),
      ],
      [['base', base]],
    ],
    [
      'a hold released in the same plan that places it, even after it',
      () => {
        const tag = sourceHoldTag('bk', 'tank/copy');
        const hold = act({ op: 'hold', argv: ['zfs', 'hold', tag, `p/a@${today[9]}`], snapshots: [today[9]!], tag, replication: KEY });
        return [hold, act({ op: 'release', argv: ['zfs', 'release', tag, `p/a@${today[9]}`], snapshots: [today[9]!], tag, after: [hold.id] })];
      },
      [['undone', today[9]!]],
    ],
    [
      "the copy's base on the destination",
      () => [
        act({
          op: 'destroy',
          host: 'bk',
          target: 'tank/copy',
          argv: ['zfs', 'destroy', `tank/copy@${base}`],
          snapshots: [base],
          replication: KEY,
          phase: 'replicate',
        }),
      ],
      [['base', base]],
    ],
  ] as const)('%s', (_rule, actions, expected) => {
    expect(rules([...actions()])).toEqual(expected);
  });

  test('the base may go once a send to that destination that establishes a newer one succeeded', () => {
    const send = act({
      op: 'send',
      phase: 'replicate',
      host: 'bk',
      target: 'tank/copy',
      replication: KEY,
      argv: ['zfs', 'send', '-i', `p/a@${base}`, `p/a@${today[11]}`],
      recvArgv: ['zfs', 'receive', '-u', 'tank/copy'],
      snapshots: [today[11]!],
    });
    const release = act({
      op: 'release',
      argv: ['zfs', 'release', sourceHoldTag('bk', 'tank/copy'), `p/a@${base}`],
      snapshots: [base],
      tag: sourceHoldTag('bk', 'tank/copy'),
      replication: KEY,
    });
    const hold = act({
      op: 'hold',
      argv: ['zfs', 'hold', sourceHoldTag('bk', 'tank/copy'), `p/a@${today[11]}`],
      snapshots: [today[11]!],
      tag: sourceHoldTag('bk', 'tank/copy'),
      replication: KEY,
      after: [send.id],
    });
    release.after = [hold.id];
    expect(rules([send, hold, release, destroy(base, { after: [send.id, release.id] })])).toEqual([]);
    // A send to another destination does not count.
    const other = { ...send, id: 'other', replication: 'bk2:tank/copy' };
    expect(rules([other, destroy(base, { after: ['other'] })])).toEqual([['base', base]]);
  });

  test.each([
    ['unreachable', new Map([['bk', DOWN]])],
    ['pool not imported', new Map([['bk', reachable({ other: {} })]])],
    ['target missing', new Map([['bk', reachable({ tank: {} })]])],
  ])('the recorded base is protected when the destination is %s', (_what, states2) => {
    const w = world({ snaps, states: states2, holds, retention: '24h' });
    expect(w.check([destroy(base)]).map((r) => r.rule)).toEqual(['base']);
    expect(w.check()).toEqual([]);
  });

  test('re-spelled destination: the base recorded under the old spelling is protected', () => {
    const w = world({
      snaps,
      destinations: 'root@bk:tank/copy|hourly',
      states: new Map([['root@bk', { ...DOWN, label: 'root@bk' }]]),
      holds,
      retention: '24h',
    });
    expect(w.check([destroy(base)]).map((r) => r.rule)).toEqual(['base']);
  });

  test('an interrupted receive: nothing of the dataset is destroyed', () => {
    const w = world({ snaps, states: new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [base], token: '1-abc' } })]]), holds, retention: '24h' });
    expect(w.check([destroy(today[2]!)]).map((r) => r.rule)).toEqual(['resume']);
  });

  test("a refused action takes the dataset's other destroys and releases, and what waits for them, out of the plan", () => {
    const bad = destroy('manual');
    const ok = destroy(today[2]!);
    const later = act({ op: 'hold', argv: ['zfs', 'hold', 'zback:x', `p/a@${today[11]}`], snapshots: [today[11]!], tag: 'zback:x', after: [ok.id] });
    const other = act({ op: 'snapshot', dataset: 'p/b', target: 'p/b', argv: ['zfs', 'snapshot', 'p/b@x'], snapshots: ['x'] });
    const p = applyRefusals({ ...plan, actions: [bad, ok, later, other] }, check([bad, ok, later, other]));
    expect(p.actions.map((a) => a.id)).toEqual([other.id]);
    expect(p.refused!.map((r) => r.message)).toEqual([
      expect.stringMatching(/^p\/a: the safety interlock refused to destroy p\/a@manual: it is not a zback snapshot/),
    ]);
  });
});

describe('a snapshot dated after the clock (SPEC §9)', () => {
  const future = '2031-06-01-000000';
  test('ignored for due, newest and retention, never destroyed, and an error line that says what to do', () => {
    const { plan, check } = world({
      snaps: [...today.slice(0, 6), { name: future }, ...today.slice(6)],
      states: new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: today.slice(0, 11) } })]]),
      holds: [sourceHold(today[10]!)],
    });
    const d = ds(plan);
    expect(d.newSnapshot).toBe(NEW); // still due: the future name is not "newest"
    expect(d.future).toEqual([future]);
    expect(d.problems).toEqual([
      expect.stringMatching(
        /^p\/a: @2031-06-01-000000 is dated after this run's clock \(2026-11-25T12:05:00\.000Z\): zback ignores it for due snapshots, retention and replication and never destroys it\. .*zfs rename p\/a@2031-06-01-000000 p\/a@manual-2031-06-01-000000\)/,
      ),
    ]);
    expect(d.decisions.map((x) => x.name)).not.toContain(future);
    expect(destroyed(plan)).not.toContain(future);
    expect(destroyed(plan)).toEqual(today.slice(0, 7)); // 6h: the newest real ones stay
    expect(plan.replications[0]!.newCommon).toBe(NEW);
    expect(check()).toEqual([]);
  });
});

describe('found in review: no false alarms, and another port is another machine', () => {
  const base = at('11-25 09');
  const snaps: Snap[] = [old, ...today.slice(0, 9), { name: base, userrefs: 2 }, ...today.slice(10)];
  const copy = (label: string) => reachable({ tank: {}, 'tank/copy': { snaps: [base] } }, OZ, label);

  test('two hosts with the same target path, one down: the other moves its base without a refusal', () => {
    const { plan, check } = world({
      snaps,
      destinations: 'bk1:tank/copy|hourly,bk2:tank/copy|hourly',
      states: new Map<string, DestinationState>([
        ['bk1', { ...DOWN, label: 'bk1' }],
        ['bk2', copy('bk2')],
      ]),
      holds: [sourceHold(base, 'bk1'), sourceHold(base, 'bk2')],
    });
    expect(plan.replications.map((r) => r.status)).toEqual(['unreachable', 'send']);
    expect(check()).toEqual([]);
    expect(destroyed(plan)).not.toContain(base); // bk1's base, while bk1 is down
  });

  test("a resume pending on one destination does not block moving another destination's hold", () => {
    const { plan, check } = world({
      snaps,
      destinations: 'bk1:tank/copy|hourly,bk2:tank/copy|hourly',
      states: new Map<string, DestinationState>([
        ['bk1', withDecodedToken(reachable({ tank: {}, 'tank/copy': { snaps: [base], token: '1-abc' } }, OZ, 'bk1'), 'tank/copy', 'p/a', today[10]!)],
        ['bk2', copy('bk2')],
      ]),
      holds: [sourceHold(base, 'bk1'), sourceHold(base, 'bk2')],
    });
    expect(plan.actions.some((a) => a.op === 'release' && a.tag === sourceHoldTag('bk2', 'tank/copy'))).toBe(true);
    expect(check()).toEqual([]);
  });

  test("gw:2201 and gw:2202 are two machines: one's hold is not the other's, and the second is seeded", () => {
    const { plan, check } = world({
      snaps,
      destinations: 'gw:2201:tank/copy|hourly,gw:2202:tank/copy|hourly',
      states: new Map<string, DestinationState>([
        ['gw:2201', copy('gw:2201')],
        ['gw:2202', reachable({ tank: {} }, OZ, 'gw:2202')],
      ]),
      holds: [sourceHold(base, 'gw:2201')],
    });
    expect(plan.replications.map((r) => [r.status, r.sends[0]?.kind])).toEqual([
      ['send', 'incremental'],
      ['send', 'full'],
    ]);
    expect(check()).toEqual([]);
  });

  test('a target with ":" in its name is one destination (hold tags and keys are split where a host label ends)', () => {
    const { plan, check } = world({
      snaps,
      destinations: 'bk:tank/back:up|hourly',
      states: new Map([['bk', reachable({ tank: {}, 'tank/back:up': { snaps: [{ name: base, userrefs: 1 }] } })]]),
      holds: [sourceHold(base, 'bk', 'tank/back:up'), { ...targetHold(base), dataset: 'tank/back:up' }],
    });
    expect(plan.replications[0]!.status).toBe('send');
    expect(check()).toEqual([]);
  });
});

describe('a renamed dataset takes its holds along (the ledger follows the dataset guid)', () => {
  test('records of a name that is gone move to the dataset with the same guid; others stay', async () => {
    const { followRenames } = await import('../../lib/state/renames.js');
    const inventory = inventoryOf({ 'p/new': { snaps: [old] }, 'p/other': { snaps: [old] } });
    const guid = inventory.get('p/new')!.guid;
    const moved = { ...sourceHold(old, 'bk', 'tank/copy', 'p/old'), datasetGuid: guid };
    const unknown = { ...sourceHold(old, 'bk', 'tank/copy', 'p/gone'), datasetGuid: 'nowhere' };
    const here = { ...sourceHold(old, 'bk', 'tank/copy', 'p/other'), datasetGuid: guid }; // its name still exists: untouched
    const r = followRenames([moved, unknown, here, targetHold(old)], inventory, new Set(['p', 'p/new', 'p/other']));
    expect(r.renamed).toEqual([{ from: 'p/old', to: 'p/new' }]);
    expect(r.holds.map((h) => h.dataset)).toEqual(['p/new', 'p/gone', 'p/other', 'tank/copy']);
  });

  test('the plan records the dataset guid with every source hold it places', () => {
    const { plan } = world({ states: new Map([['bk', reachable({ tank: {}, 'tank/copy': { snaps: [old] } })]]), holds: [sourceHold(old)] });
    const hold = plan.actions.find((a) => a.op === 'hold' && a.host === 'local')!;
    expect(hold.record!.datasetGuid).toMatch(/^ds\d+$/);
  });
});
