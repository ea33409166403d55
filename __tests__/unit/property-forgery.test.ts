/**
 * SPEC: a user who may set org.wit:* properties on one dataset cannot take other datasets out of
 * zback: a forged line break fails only the dataset that holds it. A scripted Host plays zfs and
 * prints `zfs get -H` output exactly as zfs does (values raw, line breaks and tabs included), for
 * the recursive readings and for the per-dataset re-readings alike.
 */
import { describe, expect, test } from '@jest/globals';
import { discoverLocal } from '../../lib/execute/discover.js';
import { propertyList, propertyNames, resolveConfigs, type ConfigResult, type DatasetConfig } from '../../lib/policy/properties.js';
import type { Host, RunResult } from '../../lib/transport/host.js';
import { LEGACY_CAPABILITIES, capabilitiesFor, type ZfsCapabilities } from '../../lib/zfs/capabilities.js';
import { Zfs } from '../../lib/zfs/client.js';
import { datasetConfigCommand } from '../../lib/zfs/commands.js';

const N = propertyNames('org.wit');
const PROPS = propertyList(N);
const OPENZFS = capabilitiesFor('2.2.7');

/** Dataset (or snapshot) → its local zback values, short property names; parents before children. */
type Pool = Record<string, Record<string, string>>;

/** What `zfs get -H -p -o <cols> -s local,inherited,received` prints for these names. */
function zfsGet(pool: Pool, names: readonly string[], columns: string, props: readonly string[]): string {
  const valueFirst = columns.startsWith('value');
  let out = '';
  for (const name of names) {
    for (const property of props) {
      const short = property.slice('org.wit:'.length);
      // The nearest holder of a local value: the name itself, its dataset (a snapshot), its ancestors.
      let holder: string | null = name;
      while (holder !== null && pool[holder]?.[short] === undefined) {
        const at = holder.indexOf('@');
        const slash = holder.lastIndexOf('/');
        holder = at >= 0 ? holder.slice(0, at) : slash >= 0 ? holder.slice(0, slash) : null;
      }
      if (holder === null) continue; // not set: a default, which -s leaves out
      const value = pool[holder]![short]!;
      const source = holder === name ? 'local' : `inherited from ${holder}`;
      out += valueFirst ? `${value}\t${source}\t${property}\t${name}\n` : `${name}\t${property}\t${value}\t${source}\n`;
    }
  }
  return out;
}

/** A Host that answers zback's zfs commands from `pool`; records every command it ran. */
function fakeZfs(pool: Pool, caps: ZfsCapabilities = OPENZFS) {
  const ran: string[][] = [];
  const datasets = Object.keys(pool).filter((n) => !n.includes('@'));
  const answer = (argv: readonly string[]): Partial<RunResult> => {
    if (argv[1] === 'list') return { stdout: datasets.map((d) => `${d}\n`).join('') };
    if (argv[1] === 'get' && argv.includes('-s')) {
      const columns = argv[argv.indexOf('-o') + 1]!;
      const r = argv.indexOf('-r');
      if (r >= 0) {
        // -t filesystem,volume leaves snapshots out; legacy ZFS lists them too.
        const names = Object.keys(pool).filter((n) => !(argv.includes('-t') && n.includes('@')));
        return { stdout: zfsGet(pool, names, columns, argv[r + 1]!.split(',')) };
      }
      const name = argv[argv.length - 1]!;
      if (!(name in pool)) return { code: 1, stderr: `cannot open '${name}': dataset does not exist\n` };
      return { stdout: zfsGet(pool, [name], columns, argv[argv.length - 2]!.split(',')) };
    }
    if (argv[1] === 'get') return { stdout: '' }; // the inventory: no snapshots to speak of here
    throw new Error(`unexpected command ${argv.join(' ')}`);
  };
  const host: Host = {
    label: 'local',
    async run(argv) {
      ran.push([...argv]);
      return { code: 0, signal: null, stdout: '', stderr: '', ...answer(argv) };
    },
    async startSink() {
      throw new Error('not used');
    },
    startSource() {
      throw new Error('not used');
    },
    async close() {},
  };
  const zfs = new Zfs(host, caps);
  /** The commands that read zback's properties (recursive ones end in -r PROPS). */
  const reads = () => ran.filter((a) => a.includes(PROPS.join(',')));
  const rereads = () =>
    reads()
      .filter((a) => !a.includes('-r'))
      .map((a) => a[a.length - 1]);
  return { zfs, ran, reads, rereads };
}

async function discover(pool: Pool, caps?: ZfsCapabilities) {
  const f = fakeZfs(pool, caps);
  const { configs } = await discoverLocal(f.zfs, N);
  return { ...f, configs, by: new Map(configs.map((c) => [c.dataset, c])) };
}

function managed(r: ConfigResult | undefined): DatasetConfig {
  if (!r || r.kind !== 'managed') throw new Error(`expected managed, got ${JSON.stringify(r)}`);
  return r.config;
}
function errorOf(r: ConfigResult | undefined): string {
  if (!r || r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.error.message;
}

const ZBACK = { snapshot: 'yes', retention: '24h' };
/** A retention on tank/a that, printed raw, ends its own row and forges one for tank/b. */
const FORGED = '7d\tlocal\ntank/b\torg.wit:destinations\tevil:pool/stolen|daily';

describe('a forged line break fails only the dataset that holds it', () => {
  test.each([
    ['OpenZFS', OPENZFS],
    ['legacy ZFS (snapshots listed too)', LEGACY_CAPABILITIES],
  ])('%s: X with a forged value fails alone; Y, whose rows it fakes, is managed normally', async (_, caps) => {
    const pool: Pool = { tank: {}, 'tank/a': { ...ZBACK, retention: FORGED }, 'tank/a@s1': {}, 'tank/b': ZBACK, 'tank/b@s1': {}, 'tank/c': ZBACK };
    const { configs, by, rereads, zfs } = await discover(pool, caps);
    expect(errorOf(by.get('tank/a'))).toMatch(/^tank\/a: cannot read its zback properties: .*line break/);
    expect(managed(by.get('tank/b'))).toMatchObject({ destinations: [], retention: { raw: '24h', origin: 'tank/b' } });
    expect(managed(by.get('tank/c')).retention.raw).toBe('24h');
    expect(configs.filter((c) => c.kind === 'error').map((c) => c.dataset)).toEqual(['tank/a']);
    expect(JSON.stringify(configs)).not.toContain('evil');
    // One pair of commands per suspect, never for a snapshot.
    expect(rereads()).toEqual(['tank/a', 'tank/a', 'tank/b', 'tank/b']);
    // What Zfs.config hands over: tank/b's own rows, read alone, and nothing forged.
    const { rows, unreadable } = await zfs.config(PROPS);
    expect([...unreadable].filter((n) => !n.includes('@'))).toEqual(['tank/a']);
    expect(rows.filter((r) => r.name === 'tank/b')).toEqual([
      { name: 'tank/b', property: N.snapshot, value: 'yes', source: 'local' },
      { name: 'tank/b', property: N.retention, value: '24h', source: 'local' },
    ]);
  });

  test('a child of X that inherits the forged value fails too; its sibling tree does not', async () => {
    const pool: Pool = { tank: {}, 'tank/a': { ...ZBACK, retention: FORGED }, 'tank/a/kid': {}, 'tank/b': ZBACK, 'tank/b/kid': {} };
    const { configs, by, rereads } = await discover(pool);
    expect(errorOf(by.get('tank/a/kid'))).toMatch(/^tank\/a\/kid: cannot read its zback properties: .*line break/);
    expect(managed(by.get('tank/b')).retention.raw).toBe('24h');
    expect(managed(by.get('tank/b/kid'))).toMatchObject({ group: 'tank/b', retention: { origin: 'tank/b' } });
    expect(
      configs
        .filter((c) => c.kind === 'error')
        .map((c) => c.dataset)
        .sort(),
    ).toEqual(['tank/a', 'tank/a/kid']);
    expect(rereads().sort()).toEqual(['tank/a', 'tank/a', 'tank/a/kid', 'tank/a/kid', 'tank/b', 'tank/b']);
  });

  test('a child of an unreadable ancestor fails naming the ancestor, whatever it sets itself', async () => {
    // own: overrides the forged retention, so its rows are clean (it would be managed); grand:
    // inherits from own. tank/d holds only a forged schedule; its child overrides it, so nothing
    // says snapshot (it would be "ignored: not set").
    const pool: Pool = {
      tank: {},
      'tank/a': { ...ZBACK, retention: FORGED },
      'tank/a/own': { retention: '48h' },
      'tank/a/own/grand': {},
      'tank/b': ZBACK,
      'tank/d': { schedule: 'hourly\tlocal\ntank/b\torg.wit:snapshot\tno' },
      'tank/d/half': { schedule: 'daily' },
    };
    const { by, rereads } = await discover(pool);
    for (const [d, above] of [
      ['tank/a/own', 'tank/a'],
      ['tank/a/own/grand', 'tank/a'],
      ['tank/d/half', 'tank/d'],
    ] as const) {
      expect(errorOf(by.get(d))).toBe(
        `${d}: cannot read its zback properties: its ancestor ${above}'s zback properties could not be read unambiguously, so zback cannot tell what it inherits; ` +
          `look with: zfs get -H -o name,property,value,source ${PROPS.join(',')} ${above}`,
      );
    }
    expect(managed(by.get('tank/b')).retention.raw).toBe('24h');
    // The children's own rows were clean: only the holders and their victim were read again.
    expect(rereads().sort()).toEqual(['tank/a', 'tank/a', 'tank/b', 'tank/b', 'tank/d', 'tank/d']);
  });

  test('no forgery: exactly the two recursive readings, nothing is read again', async () => {
    const { configs, reads, ran } = await discover({ tank: {}, 'tank/a': ZBACK, 'tank/a/kid': {}, 'tank/b': { ...ZBACK, destinations: 'bk:tank/copy|daily' } });
    expect(configs.map((c) => [c.dataset, c.kind])).toEqual([
      ['tank/a', 'managed'],
      ['tank/a/kid', 'managed'],
      ['tank/b', 'managed'],
    ]);
    expect(reads().map((a) => a[5])).toEqual(['name,property,value,source', 'value,source,property,name']);
    expect(reads().every((a) => a.includes('-r'))).toBe(true);
    // Nothing recorded is missing from the configured datasets: no list of every dataset either.
    expect(ran.filter((a) => a[1] === 'list')).toHaveLength(0);
  });

  test('the list of every dataset is read when one zback recorded is not configured now (gone, renamed or unconfigured)', async () => {
    const pool: Pool = { tank: {}, 'tank/a': ZBACK, 'tank/old': {} };
    for (const [held, managedBefore, lists] of [
      [[], ['tank/a'], 0],
      [['tank/a'], ['tank/a'], 0],
      [[], ['tank/a', 'tank/gone'], 1],
      [['tank/old'], [], 1],
    ] as const) {
      const f = fakeZfs(pool);
      const { datasets } = await discoverLocal(f.zfs, N, held, managedBefore);
      expect(f.ran.filter((a) => a[1] === 'list')).toHaveLength(lists);
      expect(datasets.has('tank/a')).toBe(true);
      expect(datasets.has('tank/gone')).toBe(false);
      if (lists) expect(datasets.has('tank/old')).toBe(true);
    }
  });

  test('a value with a tab but no line break is read whole, and fails only its dataset', async () => {
    const { by, reads } = await discover({ tank: {}, 'tank/a': { ...ZBACK, retention: '24h\ttank/b' }, 'tank/b': ZBACK });
    const e = by.get('tank/a');
    if (e?.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(e)}`);
    expect(e.error).toMatchObject({ dataset: 'tank/a', property: N.retention, value: '24h\ttank/b' });
    expect(managed(by.get('tank/b')).retention.raw).toBe('24h');
    expect(reads()).toHaveLength(2);
  });

  test('a forged row for a dataset that does not exist is dropped without a command or an error', async () => {
    const forged = '7d\tlocal\ntank/ghost\torg.wit:snapshot\tyes';
    const { configs, rereads } = await discover({ tank: {}, 'tank/a': { ...ZBACK, retention: forged }, 'tank/b': ZBACK });
    expect(configs.map((c) => [c.dataset, c.kind])).toEqual([
      ['tank/a', 'error'],
      ['tank/b', 'managed'],
    ]);
    expect(rereads()).toEqual(['tank/a', 'tank/a']);
  });

  test('a forged value that makes a whole reading unparseable: every dataset is read alone, only X fails', async () => {
    const broken = '\nfoo\tlocal\nbar'; // name-first, "bar" becomes a line zfs could never print
    const { configs, rereads } = await discover({ tank: {}, 'tank/a': { ...ZBACK, retention: broken }, 'tank/b': ZBACK, 'tank/c': ZBACK });
    expect(configs.map((c) => [c.dataset, c.kind])).toEqual([
      ['tank/a', 'error'],
      ['tank/b', 'managed'],
      ['tank/c', 'managed'],
    ]);
    expect(rereads()).toEqual(['tank', 'tank', 'tank/a', 'tank/a', 'tank/b', 'tank/b', 'tank/c', 'tank/c']);
  });

  test('resolveConfigs alone: below an unreadable dataset nothing is managed nor ignored', () => {
    const inh = 'inherited from tank/x';
    const rows = [
      // tank/x itself is unreadable, so its rows are gone: tank/x/y's inherited value looks local.
      { name: 'tank/x/y', property: N.snapshot, value: 'yes', source: inh },
      { name: 'tank/x/y', property: N.retention, value: '24h', source: inh },
      { name: 'tank/x/z', property: N.schedule, value: 'hourly', source: 'local' },
      { name: 'tank/xy', property: N.snapshot, value: 'yes', source: 'local' },
      { name: 'tank/xy', property: N.retention, value: '24h', source: 'local' },
    ];
    const by = new Map(resolveConfigs(rows, N, new Set(['tank/x', 'tank/x@s'])).map((c) => [c.dataset, c]));
    expect(errorOf(by.get('tank/x'))).toMatch(/^tank\/x: cannot read its zback properties/);
    expect(errorOf(by.get('tank/x/y'))).toMatch(/its ancestor tank\/x's zback properties could not be read unambiguously/);
    expect(errorOf(by.get('tank/x/z'))).toMatch(/its ancestor tank\/x's/);
    expect(managed(by.get('tank/xy')).retention.raw).toBe('24h'); // a sibling whose name merely starts the same
    expect(by.has('tank/x@s')).toBe(false);
  });
});

describe('datasetConfigCommand', () => {
  test('one dataset, not recursive, both column orders; a bad name is refused', () => {
    expect(datasetConfigCommand(PROPS, 'tank/a b')).toEqual([
      'zfs',
      'get',
      '-H',
      '-p',
      '-o',
      'name,property,value,source',
      '-s',
      'local,inherited,received',
      PROPS.join(','),
      'tank/a b',
    ]);
    expect(datasetConfigCommand(PROPS, 'tank/a', true)[5]).toBe('value,source,property,name');
    expect(() => datasetConfigCommand(PROPS, '-r')).toThrow(/refusing/);
    expect(() => datasetConfigCommand(PROPS, 'tank/a@s')).toThrow(/refusing/);
  });
});
