/**
 * Planning for SPEC §10: what the source plans on a restricted sink (only what the sink allows),
 * and what it does with what a possibly hostile backup host reports (resume tokens checked here,
 * encryption that cannot be read).
 */
import { describe, expect, test } from '@jest/globals';
import { buildPlan } from '../../lib/plan/planner.js';
import type { DestinationState } from '../../lib/plan/replication.js';
import type { Plan } from '../../lib/plan/types.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { checkPlan } from '../../lib/safety/interlock.js';
import { allow } from '../../lib/sink/rules.js';
import { LEGACY_CAPABILITIES } from '../../lib/zfs/capabilities.js';
import { SINK_ACCEPTS, type SinkInfo } from '../../lib/sink/hello.js';
import { DEFAULT_COPY_MARK, type CopyMark } from '../../lib/plan/copy-mark.js';
import { at, cal, guidOf, hourly, inventoryOf, N, names, NOW, OZ, reachable, rows, withDecodedToken, type DsSpec } from './plan-fixtures.js';

const old = at('11-23 05');
const today = hourly('11-25 00', 12); // 00 … 11

const SCHEDULED: CopyMark = { ...DEFAULT_COPY_MARK, scheduleProperty: 'org.wit:replica-schedule' };

function build(opts: { destinations?: string; retention?: string; source?: DsSpec; state: DestinationState; copyMark?: CopyMark }): Plan {
  const configs = resolveConfigs(
    rows('p/a', { snapshot: 'yes', retention: opts.retention ?? '24h', destinations: opts.destinations ?? 'bk:tank/off/copy|hourly|2h' }),
    N,
  );
  const inventory = inventoryOf({ 'p/a': opts.source ?? { snaps: [old, ...today] } });
  const plan = buildPlan({
    configs,
    inventory,
    caps: OZ,
    now: NOW,
    calendar: cal,
    names,
    destinations: new Map([['bk', opts.state]]),
    holds: [],
    ...(opts.copyMark ? { copyMark: opts.copyMark } : {}),
  });
  expect(checkPlan({ actions: plan.actions, configs, inventory, destinations: new Map([['bk', opts.state]]), holds: [], names })).toEqual([]);
  return plan;
}
const sink = (s: Partial<SinkInfo>): SinkInfo => ({ roots: ['tank/off'], appendOnly: false, keepDays: 0, ...s });
const onSink = (spec: Record<string, DsSpec>, s: Partial<SinkInfo>): DestinationState => ({
  ...(reachable(spec) as Extract<DestinationState, { reachable: true }>),
  sink: sink(s),
});
const ops = (p: Plan, host = 'bk') => p.actions.filter((a) => a.host === host).map((a) => `${a.op} ${a.argv.join(' ')}`);

describe('a restricted sink: the source plans only what it allows', () => {
  test('missing parents are created one level at a time, unmounted; the seed records the retention on the copy', () => {
    const p = build({ destinations: 'bk:tank/off/web1/home/copy|hourly|2h', state: onSink({ tank: {}, 'tank/off': {} }, {}) });
    const bk = ops(p);
    expect(bk.slice(0, 2)).toEqual(['create-parent zfs create -o canmount=off tank/off/web1', 'create-parent zfs create -o canmount=off tank/off/web1/home']);
    // OpenZFS there: the marks go inside the seed's receive, which the sink allows in that form.
    const seed = p.actions.find((a) => a.op === 'send' && a.send?.kind === 'full')!;
    expect(seed.recvArgv).toEqual([
      'zfs',
      'receive',
      '-u',
      '-s',
      '-o',
      'org.wit:replica-of=localhost:p/a',
      '-o',
      'canmount=noauto',
      '-o',
      'org.wit:replica-retention=2h',
      'tank/off/web1/home/copy',
    ]);
    expect(allow(seed.recvArgv!, { roots: ['tank/off'], keepDays: 0, appendOnly: false }).op).toBe('receive');
    expect(bk.filter((o) => o.startsWith('mark-copy'))).toEqual([]);
  });

  test('a sink whose ZFS has no zfs receive -o: the seed is marked with zfs set, one property each', () => {
    const legacy = { ...onSink({ tank: {}, 'tank/off': {} }, {}), caps: LEGACY_CAPABILITIES } as DestinationState;
    const p = build({ destinations: 'bk:tank/off/copy|hourly|2h', state: legacy });
    const seed = p.actions.find((a) => a.op === 'send' && a.send?.kind === 'full')!;
    expect(seed.recvArgv).toEqual(['zfs', 'receive', '-u', 'tank/off/copy']);
    expect(ops(p).filter((o) => o.startsWith('mark-copy'))).toEqual([
      'mark-copy zfs set org.wit:replica-of=localhost:p/a tank/off/copy',
      'mark-copy zfs set canmount=noauto tank/off/copy',
      'mark-copy zfs set org.wit:replica-retention=2h tank/off/copy',
    ]);
  });

  test("the copy's schedule mark (for zback status --replicas there): inside the receive where the sink accepts it, left out for an older sink", () => {
    const seedOn = (state: DestinationState, destinations = 'bk:tank/off/copy|0 */4 * * 1-5|2h') =>
      build({ destinations, state, copyMark: SCHEDULED }).actions.find((a) => a.op === 'send' && a.send?.kind === 'full')!;
    const current = seedOn(onSink({ tank: {}, 'tank/off': {} }, { accepts: SINK_ACCEPTS }));
    // The destination's schedule, and the dataset's (hourly, from its 24h retention) where it differs.
    expect(current.recvArgv!.slice(-3)).toEqual(['-o', `org.wit:replica-schedule=0_*/4_*_*_1-5+hourly@${cal.zone}`, 'tank/off/copy']);
    expect(allow(current.recvArgv!, { roots: ['tank/off'], keepDays: 0, appendOnly: false }).op).toBe('receive');
    // A sink from before schedule marks says nothing of them: the seed goes without (it would be refused).
    expect(seedOn(onSink({ tank: {}, 'tank/off': {} }, {})).recvArgv!.join(' ')).not.toContain('replica-schedule');
    // A plain host (no sink) takes any user property.
    expect(seedOn(reachable({ tank: {}, 'tank/off': {} }), 'bk:tank/off/copy|daily|2h').recvArgv!.slice(-3)).toEqual([
      '-o',
      `org.wit:replica-schedule=daily+hourly@${cal.zone}`,
      'tank/off/copy',
    ]);
    // Without zfs receive -o, one zfs set more.
    const legacy = { ...reachable({ tank: {}, 'tank/off': {} }), caps: LEGACY_CAPABILITIES } as DestinationState;
    const p = build({ destinations: 'bk:tank/off/copy|hourly|2h', state: legacy, copyMark: SCHEDULED });
    expect(ops(p).filter((o) => o.startsWith('mark-copy'))).toContain(`mark-copy zfs set org.wit:replica-schedule=hourly@${cal.zone} tank/off/copy`);
  });

  test('a target outside the sink’s roots is an error before anything is sent, with the fix', () => {
    const p = build({ destinations: 'bk:tank/elsewhere/copy|hourly', state: onSink({ tank: {}, 'tank/off': {} }, {}) });
    expect(p.replications[0]!.status).toBe('error');
    expect(p.replications[0]!.message).toMatch(/outside what the restricted sink on bk accepts \(its root: tank\/off\)/);
    expect(ops(p)).toEqual([]);
  });

  test('a missing parent at or above the root is not created (the sink would refuse): error with the command to run there', () => {
    const p = build({ destinations: 'bk:tank/off/copy|hourly', state: onSink({ tank: {} }, {}) });
    expect(p.replications[0]!.message).toMatch(/tank\/off does not exist on bk.*zfs create -o canmount=off tank\/off\)/);
    expect(ops(p)).toEqual([]);
  });

  test('append-only: sends only — no hold, release or destroy on the backup host', () => {
    const p = build({ state: onSink({ tank: {}, 'tank/off': {}, 'tank/off/copy': { snaps: [old, ...today.slice(0, 6)] } }, { appendOnly: true }) });
    expect(p.replications[0]!.status).toBe('send');
    expect(new Set(ops(p).map((o) => o.split(' ')[0]))).toEqual(new Set(['send']));
    expect(p.replications[0]!.targetDestroy).toEqual([]);
    // The source side still holds its base.
    expect(ops(p, 'local').some((o) => o.startsWith('hold '))).toBe(true);
  });

  test('--keep-days: nothing younger than the floor is planned for destruction there', () => {
    const target = { snaps: [old, ...today.slice(0, 6)] };
    const free = build({ state: onSink({ tank: {}, 'tank/off': {}, 'tank/off/copy': target }, {}) });
    expect(free.replications[0]!.targetDestroy.length).toBeGreaterThan(1);
    const floor = build({ state: onSink({ tank: {}, 'tank/off': {}, 'tank/off/copy': target }, { keepDays: 1 }) });
    // Only `old` (two days before) may go; everything of today is younger than one day.
    expect(floor.replications[0]!.targetDestroy).toEqual([old]);
    const why = floor.replications[0]!.targetDecisions.find((d) => d.name === today[0])!.reasons;
    expect(why).toContain("younger than the sink's floor of 1 days");
  });
});

describe('what a backup host reports is checked here', () => {
  const token = '1-e604ea4bf-e0-789c63';
  const withToken = reachable({ tank: {}, 'tank/off': {}, 'tank/off/copy': { snaps: [old], token } });

  test('a token naming another dataset: never used; the partial receive is discarded and the run fails for that destination', () => {
    const p = build({ state: withDecodedToken(withToken, 'tank/off/copy', 'p/other', today[0]!) });
    const r = p.replications[0]!;
    expect([r.status, r.discardReceive, r.sends]).toEqual(['error', true, []]);
    expect(r.message).toMatch(/resume token zback does not use: the resume token for p\/a names p\/other@.*a snapshot of another dataset/);
    const abort = p.actions.filter((a) => a.op === 'abort-receive');
    expect(abort.map((a) => [a.argv, a.after, a.onFailure])).toEqual([[['zfs', 'receive', '-A', 'tank/off/copy'], [], undefined]]);
    expect(p.actions.some((a) => a.op === 'send')).toBe(false);
  });

  test('a token this machine could not decode is not used either', () => {
    const p = build({ state: withToken });
    expect(p.replications[0]!.message).toMatch(/could not decode it/);
    expect(p.actions.some((a) => a.op === 'send')).toBe(false);
  });

  test('an encrypted dataset: a non-raw token is refused; a raw one resumes with -w', () => {
    const src = { snaps: [old, ...today], encryption: 'aes-256-gcm' };
    const plain = build({ source: src, state: withDecodedToken(withToken, 'tank/off/copy', 'p/a', today[0]!) });
    expect(plain.replications[0]!.message).toMatch(/not a raw send \(no rawok\): resuming it would send the data decrypted/);
    const raw = build({ source: src, state: withDecodedToken(withToken, 'tank/off/copy', 'p/a', today[0]!, true) });
    expect(raw.replications[0]!.sends.map((s) => s.sendArgv)).toEqual([['zfs', 'send', '-w', '-t', token]]);
  });

  test('the common snapshot under another name on the target (renamed, or a lie): holds and releases there use the name it has there', () => {
    const base = today[9]!;
    // Found by the hostile-host test: the release of the old base went to the source's name, which
    // the target does not have (the interlock refused it).
    const other = at('11-24 23'); // a zback-like name: retention would consider it
    const p = build({ state: reachable({ tank: {}, 'tank/off': {}, 'tank/off/copy': { snaps: [{ name: other, guid: guidOf(base) }] } }) });
    const r = p.replications[0]!;
    expect([r.common, r.commonOnTarget]).toEqual([base, other]);
    expect(ops(p).filter((o) => o.startsWith('release'))).toEqual([`release zfs release zback:replica tank/off/copy@${other}`]);
    // Once the send has made a newer base, the old one may go by retention there — only after it.
    const destroy = p.actions.find((a) => a.op === 'destroy' && a.host === 'bk' && a.snapshots.includes(other))!;
    const send = p.actions.filter((a) => a.op === 'send').pop()!;
    expect(destroy.after).toContain(send.id);
    // With nothing to send (up to date), it stays the base and is kept there under its own name.
    const current = at('11-25 12'); // this hour's: nothing is due
    const idle = build({
      source: { snaps: [current] },
      state: reachable({ tank: {}, 'tank/off': {}, 'tank/off/copy': { snaps: [{ name: other, guid: guidOf(current) }] } }),
    });
    expect(idle.replications[0]!.status).toBe('up-to-date');
    expect(idle.replications[0]!.targetDestroy).toEqual([]);
    expect(ops(idle)).toEqual([`hold zfs hold zback:replica tank/off/copy@${other}`]);
  });

  test('encryption that could not be read (OpenZFS): the dataset is not sent', () => {
    const p = build({ source: { snaps: [old, ...today], encryption: null }, state: reachable({ tank: {}, 'tank/off': {} }) });
    expect(p.replications[0]!.status).toBe('error');
    expect(p.replications[0]!.message).toMatch(/cannot tell whether p\/a is encrypted/);
    expect(p.actions.some((a) => a.op === 'send')).toBe(false);
  });
});
