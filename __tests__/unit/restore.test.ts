/**
 * zback restore's pure part (lib/plan/restore.ts) and its words (lib/report/restore-text.ts):
 * which copies a dataset has, which one --from names, which snapshot --at names, what --to may be,
 * and the commands printed afterwards.
 */
import { describe, expect, test } from '@jest/globals';
import {
  chooseCopy,
  chooseSnapshot,
  copyName,
  freeAsideName,
  hostTargetOf,
  knownCopies,
  newDatasetProblem,
  type CopyLocation,
} from '../../lib/plan/restore.js';
import { DEFAULT_PREFIX, propertyNames, resolveConfigs } from '../../lib/policy/properties.js';
import { renderRestoreDone, renderRestorePlan } from '../../lib/report/restore-text.js';
import type { RunState } from '../../lib/state/run-state.js';
import { restoreReceiveCommand, sendFullCommand } from '../../lib/zfs/commands.js';
import type { PropertyRow } from '../../lib/zfs/parse.js';

const P = propertyNames(DEFAULT_PREFIX);
const row = (name: string, property: string, value: string, source = 'local'): PropertyRow => ({ name, property, value, source });
const inherited = (name: string, property: string, value: string, from: string) => row(name, property, value, `inherited from ${from}`);

/** tank/data replicated to two hosts; tank/data/x inherits both. */
const rows = [
  row('tank/data', P.snapshot, 'yes'),
  row('tank/data', P.retention, '24h7d'),
  row('tank/data', P.destinations, 'backup:bpool/c/data|hourly,root@vault:2222:vpool/data|daily,bpool/local/data|daily'),
  inherited('tank/data/x', P.snapshot, 'yes', 'tank/data'),
  inherited('tank/data/x', P.retention, '24h7d', 'tank/data'),
  inherited('tank/data/x', P.destinations, 'backup:bpool/c/data|hourly,root@vault:2222:vpool/data|daily,bpool/local/data|daily', 'tank/data'),
];
const configs = resolveConfigs(rows, P);
const recordedOnly = (datasets: Record<string, string[]>): RunState => ({
  version: 1,
  datasets: Object.fromEntries(
    Object.entries(datasets).map(([d, keys]) => [
      d,
      { lastRun: '', ok: true, errors: [], notes: [], destinations: Object.fromEntries(keys.map((k) => [k, { lastRun: '', result: 'sent' as const }])) },
    ]),
  ),
});
const NONE: RunState = { version: 1, datasets: {} };

describe('where the copies are', () => {
  test('from the configuration: every destination, with the path each dataset has there', () => {
    const copies = knownCopies(configs, NONE);
    expect(copies.map((c) => [c.dataset, copyName(c), c.configured])).toEqual([
      ['tank/data', 'backup:bpool/c/data', true],
      ['tank/data', 'root@vault:2222:vpool/data', true],
      ['tank/data', 'bpool/local/data', true],
      ['tank/data/x', 'backup:bpool/c/data/x', true],
      ['tank/data/x', 'root@vault:2222:vpool/data/x', true],
      ['tank/data/x', 'bpool/local/data/x', true],
    ]);
    expect(copies[1]!.host).toEqual({ host: 'vault', user: 'root', port: 2222 });
    expect(copies[2]!.host).toEqual({});
  });

  test('a dataset that is gone (no configuration any more) still has the copies the runs recorded', () => {
    const state = recordedOnly({ 'tank/gone': ['backup:bpool/c/gone', 'root@vault:2222:vpool/gone', 'bpool/local/gone'] });
    const copies = knownCopies(configs, state, 'tank/gone');
    expect(copies.map((c) => [copyName(c), c.configured, c.host])).toEqual([
      ['backup:bpool/c/gone', false, { host: 'backup' }],
      ['root@vault:2222:vpool/gone', false, { host: 'vault', user: 'root', port: 2222 }],
      ['bpool/local/gone', false, {}],
    ]);
  });

  test('the same copy configured and recorded (another spelling of its host) is listed once', () => {
    const state = recordedOnly({ 'tank/data': ['BACKUP:bpool/c/data', 'backup:bpool/old/data'] });
    const copies = knownCopies(configs, state, 'tank/data');
    expect(copies.filter((c) => c.dataset === 'tank/data').map(copyName)).toEqual([
      'backup:bpool/c/data',
      'root@vault:2222:vpool/data',
      'bpool/local/data',
      'backup:bpool/old/data',
    ]);
  });

  test('only the dataset asked for and those below it', () => {
    expect(new Set(knownCopies(configs, NONE, 'tank/data/x').map((c) => c.dataset))).toEqual(new Set(['tank/data/x']));
    expect(knownCopies(configs, NONE, 'tank/dat')).toEqual([]);
  });

  test.each<[string, object | null]>([
    ['local', {}],
    ['backup', { host: 'backup' }],
    ['root@backup', { host: 'backup', user: 'root' }],
    ['backup:2222', { host: 'backup', port: 2222 }],
    ['[fd00::1]:22', { host: '[fd00::1]', port: 22 }],
    ['backup:99999', null],
    ['ba ckup', null],
    ['backup;id', null],
  ])('host label %s', (label, target) => {
    expect(hostTargetOf(label)).toEqual(target);
  });
});

describe('--from', () => {
  const copies = knownCopies(configs, NONE);
  const chosen = (from: string, dataset = 'tank/data') => {
    const c = chooseCopy(dataset, copies, from);
    return c.ok ? copyName(c.value) : c.problem;
  };
  test('the full name as --list shows it, any spelling of the host', () => {
    expect(chosen('backup:bpool/c/data')).toBe('backup:bpool/c/data');
    expect(chosen('root@BACKUP:22:bpool/c/data')).toBe('backup:bpool/c/data');
    expect(chosen('bpool/local/data/x', 'tank/data/x')).toBe('bpool/local/data/x');
  });
  test('the host alone, where the dataset has one copy there', () => {
    expect(chosen('backup')).toBe('backup:bpool/c/data');
    expect(chosen('vault:2222')).toBe('root@vault:2222:vpool/data');
    expect(chosen('local')).toBe('bpool/local/data');
  });
  test('a host with no copy of the dataset: says which copies it has', () => {
    expect(chosen('elsewhere')).toMatch(
      /tank\/data has no copy there that zback knows of; its copies: backup:bpool\/c\/data, root@vault:2222:vpool\/data, bpool\/local\/data/,
    );
    expect(chosen('vault')).toMatch(/no copy there/); // port 22 is another machine than vault:2222
  });
  test('a host with two copies of the dataset: name one', () => {
    const two = [...copies, { ...copies[0]!, target: 'bpool/d/data' }];
    const c = chooseCopy('tank/data', two, 'backup');
    expect(c.ok ? 'chosen' : c.problem).toMatch(/2 copies on backup \(backup:bpool\/c\/data, backup:bpool\/d\/data\); name one/);
  });
  test('a copy zback does not know of, named outright (a new machine)', () => {
    const c = chooseCopy('tank/new', copies, 'root@backup:2201:bpool/c/old');
    expect(c).toEqual({
      ok: true,
      value: {
        dataset: 'tank/new',
        hostLabel: 'root@backup:2201',
        host: { host: 'backup', user: 'root', port: 2201 },
        target: 'bpool/c/old',
        configured: false,
      },
    });
    expect(chosen('backup', 'tank/new')).toMatch(/knows of no copy of tank\/new .* name the copy as host:pool\/path/);
  });
  test('a copy name that is not one', () => {
    expect(chosen('backup:bpool/c/data@snap')).toMatch(/give a copy as \[user@\]host\[:port\]:pool\/path/);
    expect(chosen('back up:bpool/x')).toMatch(/give a copy as/);
  });
});

describe('--at', () => {
  const snaps = ['2026-12-01-0000', '2026-12-02-0000', '2026-12-03-0000'].map((name, i) => ({ name, guid: String(100 + i), createtxg: i + 1, userrefs: 0 }));
  const at = (a?: string) => {
    const c = chooseSnapshot('backup:bpool/c/data', snaps, a);
    return c.ok ? c.value.name : c.problem;
  };
  test('the newest without --at; a name, or dataset@name', () => {
    expect(at()).toBe('2026-12-03-0000');
    expect(at('2026-12-01-0000')).toBe('2026-12-01-0000');
    expect(at('tank/data@2026-12-02-0000')).toBe('2026-12-02-0000');
  });
  test('a snapshot the copy does not have names the newest it has', () => {
    expect(at('2026-11-30-0000')).toBe(
      '--at 2026-11-30-0000: backup:bpool/c/data has no such snapshot (its newest: 2026-12-03-0000, 2026-12-02-0000, 2026-12-01-0000; zback restore --list shows them all)',
    );
    expect(at('a*b')).toMatch(/not a snapshot name/);
  });
  test('a copy without snapshots', () => {
    const c = chooseSnapshot('backup:bpool/c/data', []);
    expect(c.ok ? 'chosen' : c.problem).toBe('backup:bpool/c/data has no snapshot: there is nothing to restore from it');
  });
});

describe('--to: only a new dataset, whose parent exists', () => {
  const here = new Set(['tank', 'tank/data', 'tank/data/x']);
  test.each<[string, RegExp | null]>([
    ['tank/data.restored', null],
    ['tank/data/x/restored', null],
    ['tank/data', /that dataset exists; zback restores only into a new dataset/],
    ['tank/none/restored', /its parent tank\/none does not exist here \(create it first: zfs create tank\/none\)/],
    ['tank', /that dataset exists/],
    ['newpool', /give a dataset inside a pool/],
    ['tank/data@x', /not a dataset name/],
    ['tank/a*b', /not a dataset name/],
  ])('%s', (to, problem) => {
    const p = newDatasetProblem(to, here);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toMatch(problem);
  });
});

describe('what is printed', () => {
  const copy: CopyLocation = { dataset: 'tank/da ta', hostLabel: 'backup', host: { host: 'backup' }, target: 'bpool/c/da ta', configured: true };
  test('the plan: the one send there and the one receive here, quoted for a shell', () => {
    const send = sendFullCommand(copy.target, 's1', ['-w']);
    expect(renderRestorePlan({ copy, snapshot: 's1', to: 'tank/new', send, receive: restoreReceiveCommand('tank/new'), size: 3 * 1024 * 1024 })).toBe(
      "Restore backup:bpool/c/da ta@s1 into tank/new (about 3.0 MiB):\n  [backup] zfs send -w 'bpool/c/da ta@s1' | zfs receive -u tank/new\n",
    );
  });
  const base = {
    dataset: 'tank/da ta',
    copy,
    snapshot: 's1',
    to: 'tank/da ta.restored',
    bytes: 10 * 1024 * 1024,
    ms: 2000,
    raw: false,
    originalExists: true,
    originalHasChildren: false,
    aside: 'tank/da ta.before-restore',
    ownProperties: [] as [string, string][],
    managedBy: P.snapshot,
  };
  const steps = (text: string) =>
    text
      .slice(text.indexOf('To put it in place of'))
      .split('\n')
      .filter((l) => l.startsWith('  zfs '))
      .map((l) => l.trim().replace(/ {4}\(.*\)$/, ''));
  test('afterwards: the key (raw), how to look, the swap with its own properties, held back from management until then', () => {
    const text = renderRestoreDone({ ...base, raw: true, ownProperties: [[P.retention, '24h7d']], heldBack: { origin: 'tank' } });
    expect(text).toContain('Restored backup:bpool/c/da ta@s1 into tank/da ta.restored: 10.0 MiB in 2.0 s, 5.0 MiB/s. It is not mounted.');
    expect(text).toMatch(/It would inherit org\.wit:snapshot=yes from tank: zback set org\.wit:snapshot=no on it, so that no run/);
    expect(text).toContain("  zfs load-key 'tank/da ta.restored'\n");
    expect(text).toMatch(/its own encryption root now: .*zfs set keylocation=… 'tank\/da ta.restored'/);
    expect(steps(text)).toEqual([
      "zfs unmount 'tank/da ta'",
      "zfs rename 'tank/da ta' 'tank/da ta.before-restore'",
      "zfs set org.wit:snapshot=no 'tank/da ta.before-restore'",
      "zfs set canmount=noauto 'tank/da ta.before-restore'",
      "zfs rename 'tank/da ta.restored' 'tank/da ta'",
      "zfs inherit org.wit:snapshot 'tank/da ta'",
      "zfs set org.wit:retention=24h7d 'tank/da ta'",
      "zfs mount 'tank/da ta'",
    ]);
    expect(text).toContain("zfs get -s local all 'tank/da ta.before-restore' shows them");
    expect(text).toMatch(/tank\/da ta.before-restore keeps zback's holds/);
    expect(text).toMatch(/zback's next run carries on from @s1/);
    expect(text.indexOf('load-key')).toBeLessThan(text.indexOf('zfs mount'));
  });
  test('a second restore sets aside under a free name; children are named', () => {
    const text = renderRestoreDone({ ...base, aside: 'tank/da ta.before-restore-2', originalHasChildren: true, ownProperties: [[P.snapshot, 'yes']] });
    expect(steps(text)[1]).toBe("zfs rename 'tank/da ta' 'tank/da ta.before-restore-2'");
    expect(text).toContain('(stop what uses it first; its child datasets too)');
    expect(text).toMatch(/child datasets move aside with it: restore each of them too/);
    expect(freeAsideName('tank/a', new Set(['tank/a', 'tank/a.before-restore']))).toBe('tank/a.before-restore-2');
    expect(freeAsideName(`tank/${'x'.repeat(245)}`, new Set())).toBeNull();
  });
  test('no swap that cannot work: another pool, or inside the dataset itself', () => {
    const other = renderRestoreDone({ ...base, to: 'scratch/da ta' });
    expect(steps(other)).toEqual([]);
    expect(other).toMatch(/it must be in the pool tank \(zfs rename stays in a pool\): restore again with --to tank\/…/);
    const inside = renderRestoreDone({ ...base, to: 'tank/da ta/restored' });
    expect(steps(inside)).toEqual([]);
    expect(inside).toMatch(/restore again with --to outside tank\/da ta/);
  });
  test('restored under the name of a dataset that is gone: nothing to swap; zback must be told to manage it again', () => {
    const text = renderRestoreDone({ ...base, dataset: 'tank/gone', to: 'tank/gone', bytes: 1, ms: 1, originalExists: false });
    expect(text).not.toContain('rename');
    expect(text).not.toContain('load-key');
    expect(text).toContain('  zfs mount tank/gone');
    expect(text).toMatch(/zback does not manage tank\/gone now .*zback set tank\/gone --snapshot yes …\) and the runs carry on from @s1/);
  });
});
