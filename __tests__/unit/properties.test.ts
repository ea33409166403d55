import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, InvalidValue } from '../../lib/errors.js';
import { propertyList, propertyNames, resolveConfigs, validatePrefix, type ConfigResult, type DatasetConfig } from '../../lib/policy/properties.js';
import { parsePropertyRows, type PropertyRow } from '../../lib/zfs/parse.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zfs-fuse');
const N = propertyNames('org.wit');

/** Rows from a compact table: [dataset, short property, value, source]. */
function rows(...t: Array<[string, string, string, string]>): PropertyRow[] {
  return t.map(([name, p, value, source]) => ({ name, property: p.includes(':') ? p : `org.wit:${p}`, value, source }));
}
function byName(results: ConfigResult[]): Map<string, ConfigResult> {
  return new Map(results.map((r) => [r.dataset, r]));
}
function managed(r: ConfigResult | undefined): DatasetConfig {
  if (!r || r.kind !== 'managed') throw new Error(`expected managed, got ${JSON.stringify(r)}`);
  return r.config;
}
function configError(r: ConfigResult | undefined): ConfigError {
  if (!r || r.kind !== 'error') throw new Error(`expected error, got ${JSON.stringify(r)}`);
  return r.error;
}
function ignoredWhy(r: ConfigResult | undefined): string {
  if (!r || r.kind !== 'ignored') throw new Error(`expected ignored, got ${JSON.stringify(r)}`);
  return r.why;
}
const L = 'local';
const RCV = 'received';
const inh = (from: string) => `inherited from ${from}`;

describe('property names and prefix', () => {
  test('default and custom prefix', () => {
    expect(propertyNames()).toMatchObject({
      snapshot: 'org.wit:snapshot',
      retention: 'org.wit:retention',
      destinations: 'org.wit:destinations',
      schedule: 'org.wit:schedule',
    });
    const list = propertyList(propertyNames('com.example.zb'));
    expect(list.slice(0, 4)).toEqual(['com.example.zb:snapshot', 'com.example.zb:retention', 'com.example.zb:destinations', 'com.example.zb:schedule']);
    expect(list.every((p) => p.startsWith('com.example.zb:'))).toBe(true);
  });
  test('invalid prefixes', () => {
    for (const p of ['', 'Org.wit', 'org:wit', '.org', 'org wit', 'org;id']) {
      expect(() => validatePrefix(p)).toThrow(InvalidValue);
      expect(() => propertyNames(p)).toThrow(/property prefix/);
    }
  });
});

describe('resolveConfigs: recorded zfs-fuse configuration', () => {
  const res = byName(resolveConfigs(parsePropertyRows(readFileSync(join(FIX, 'get-config.txt'), 'utf8')), N));

  test('the datasets that appear, snapshots skipped', () => {
    expect([...res.keys()]).toEqual(['tank/data', 'tank/data/db', 'tank/data/web', 'tank/off', 'tank/recv', 'tank/recv/child']);
  });
  test('tank/data: local values', () => {
    const c = managed(res.get('tank/data'));
    expect(c.group).toBe('tank/data');
    expect(c.retention).toEqual({ value: { h: 24, d: 7, w: 0, m: 0, y: 0 }, origin: 'tank/data', raw: '24h7d' });
    expect(c.schedule).toEqual({ text: 'hourly', cron: '0 * * * *', unit: 'h' });
    expect(c.scheduleOrigin).toBeNull();
    expect(c.destinations).toHaveLength(1);
    expect(c.destinations[0]).toMatchObject({ host: 'backup', path: 'bpool/data', datasetPath: 'bpool/data', origin: 'tank/data' });
  });
  test('tank/data/db: its own retention, inherited destination mapped below', () => {
    const c = managed(res.get('tank/data/db'));
    expect(c.group).toBe('tank/data');
    expect(c.retention).toEqual({ value: { h: 48, d: 0, w: 0, m: 0, y: 0 }, origin: 'tank/data/db', raw: '48h' });
    expect(c.destinations[0]).toMatchObject({ host: 'backup', path: 'bpool/data', datasetPath: 'bpool/data/db', origin: 'tank/data' });
  });
  test('tank/data/web: everything inherited', () => {
    const c = managed(res.get('tank/data/web'));
    expect(c.group).toBe('tank/data');
    expect(c.retention.origin).toBe('tank/data');
    expect(c.destinations[0]!.datasetPath).toBe('bpool/data/web');
  });
  test('tank/off: snapshot=no', () => {
    expect(ignoredWhy(res.get('tank/off'))).toBe('org.wit:snapshot=no');
  });
  test('received copy and its child are left alone', () => {
    expect(ignoredWhy(res.get('tank/recv'))).toMatch(/replicated copy.*received \(from tank\/recv\)/);
    expect(ignoredWhy(res.get('tank/recv/child'))).toMatch(/replicated copy.*received \(from tank\/recv\)/);
  });
});

describe('resolveConfigs: sources', () => {
  test('local and inherited', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'snapshot', 'yes', L],
          ['p/a', 'retention', '7d', L],
          ['p/a/b', 'snapshot', 'yes', inh('p/a')],
          ['p/a/b', 'retention', '7d', inh('p/a')],
          ['p/a/b/c', 'snapshot', 'yes', inh('p/a')],
          ['p/a/b/c', 'retention', '7d', inh('p/a')],
        ),
        N,
      ),
    );
    for (const d of ['p/a', 'p/a/b', 'p/a/b/c']) {
      const c = managed(res.get(d));
      expect(c.group).toBe('p/a');
      expect(c.retention.origin).toBe('p/a');
      expect(c.schedule.text).toBe('daily');
      expect(c.destinations).toEqual([]);
    }
  });

  test('received values and values inherited from them never count', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['b/copy', 'snapshot', 'yes', RCV],
          ['b/copy', 'retention', '7d', RCV],
          ['b/copy/x', 'snapshot', 'yes', inh('b/copy')],
          ['b/copy/x', 'retention', '7d', inh('b/copy')],
          ['b/copy/x/y', 'snapshot', 'yes', inh('b/copy')],
          ['b/copy/x/y', 'retention', '7d', inh('b/copy')],
        ),
        N,
      ),
    );
    expect([...res.values()].every((r) => r.kind === 'ignored')).toBe(true);
    expect(ignoredWhy(res.get('b/copy/x/y'))).toMatch(/received \(from b\/copy\)/);
  });

  test('a received value anywhere (even only destinations) leaves the dataset alone', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'snapshot', 'yes', L],
          ['p/a', 'retention', '7d', L],
          ['p/a/copy', 'snapshot', 'yes', inh('p/a')],
          ['p/a/copy', 'retention', '7d', inh('p/a')],
          ['p/a/copy', 'destinations', 'far:x/y|hourly', RCV],
        ),
        N,
      ),
    );
    managed(res.get('p/a'));
    expect(ignoredWhy(res.get('p/a/copy'))).toMatch(/replicated copy/);
  });

  test('local snapshot=yes on a received copy: managed with local values only', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['b/copy', 'snapshot', 'yes', L],
          ['b/copy', 'retention', '30d', L],
          ['b/copy', 'destinations', 'far:x/y|hourly', RCV],
          ['b/copy', 'schedule', '*/5 * * * *', RCV],
        ),
        N,
      ),
    );
    const c = managed(res.get('b/copy'));
    expect(c.retention.raw).toBe('30d');
    expect(c.destinations).toEqual([]); // the received destinations are the source host's
    expect(c.schedule.text).toBe('daily'); // the received schedule does not count either
    expect(c.scheduleOrigin).toBeNull();
  });

  test('local snapshot=yes on a received copy without a local retention → error', () => {
    const res = byName(resolveConfigs(rows(['b/copy', 'snapshot', 'yes', L], ['b/copy', 'retention', '7d', RCV]), N));
    const e = configError(res.get('b/copy'));
    expect(e.property).toBe('org.wit:retention');
    expect(e.message).toMatch(/needs a retention/);
  });

  test('snapshot=no on a child opts out of an inherited yes; its children follow', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'snapshot', 'yes', L],
          ['p/a', 'retention', '24h', L],
          ['p/a/tmp', 'snapshot', 'no', L],
          ['p/a/tmp', 'retention', '24h', inh('p/a')],
          ['p/a/tmp/x', 'snapshot', 'no', inh('p/a/tmp')],
          ['p/a/tmp/x', 'retention', '24h', inh('p/a')],
          ['p/a/off', 'snapshot', 'OFF', L],
        ),
        N,
      ),
    );
    managed(res.get('p/a'));
    expect(ignoredWhy(res.get('p/a/tmp'))).toBe('org.wit:snapshot=no');
    expect(ignoredWhy(res.get('p/a/tmp/x'))).toBe('org.wit:snapshot=no (inherited from p/a/tmp)');
    expect(ignoredWhy(res.get('p/a/off'))).toBe('org.wit:snapshot=no');
  });

  test('a child re-enabling with its own snapshot=yes starts its own group', () => {
    const res = byName(
      resolveConfigs(
        rows(['p/a', 'snapshot', 'yes', L], ['p/a', 'retention', '24h', L], ['p/a/b', 'snapshot', 'yes', L], ['p/a/b', 'retention', '24h', inh('p/a')]),
        N,
      ),
    );
    expect(managed(res.get('p/a/b')).group).toBe('p/a/b');
  });

  test('retention without snapshot → ignored; snapshot=on / YES accepted', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'retention', '24h', L],
          ['p/b', 'snapshot', 'on', L],
          ['p/b', 'retention', '1d', L],
          ['p/c', 'snapshot', ' YES ', L],
          ['p/c', 'retention', '1d', L],
        ),
        N,
      ),
    );
    expect(ignoredWhy(res.get('p/a'))).toBe('org.wit:snapshot is not set');
    managed(res.get('p/b'));
    managed(res.get('p/c'));
  });

  test('a custom prefix ignores org.wit properties', () => {
    const names = propertyNames('com.example');
    const res = byName(
      resolveConfigs(
        [
          { name: 'p/a', property: 'org.wit:snapshot', value: 'yes', source: L },
          { name: 'p/a', property: 'org.wit:retention', value: '7d', source: L },
          { name: 'p/b', property: 'com.example:snapshot', value: 'yes', source: L },
          { name: 'p/b', property: 'com.example:retention', value: '7d', source: L },
        ],
        names,
      ),
    );
    expect(ignoredWhy(res.get('p/a'))).toBe('com.example:snapshot is not set');
    managed(res.get('p/b'));
  });
});

describe('resolveConfigs: schedule', () => {
  test.each<[string, string, string, string]>([
    ['24h30d0w3m', 'hourly', '0 * * * *', 'h'],
    ['0h7d', 'daily', '0 0 * * *', 'd'],
    ['0h0d4w', 'weekly', '0 0 * * 1', 'w'],
    ['3m', 'monthly', '0 0 1 * *', 'm'],
    ['3m2w', 'weekly', '0 0 * * 1', 'w'],
    ['1y', 'yearly', '0 0 1 1 *', 'y'],
  ])('default from the finest unit: %s → %s', (retention, text, cron, unit) => {
    const [r] = resolveConfigs(rows(['p/a', 'snapshot', 'yes', L], ['p/a', 'retention', retention, L]), N);
    const c = managed(r);
    expect(c.schedule).toEqual({ text, cron, unit });
    expect(c.scheduleOrigin).toBeNull();
  });
  test('explicit and inherited schedule', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'snapshot', 'yes', L],
          ['p/a', 'retention', '24h', L],
          ['p/a', 'schedule', '*/15 * * * *', L],
          ['p/a/b', 'snapshot', 'yes', inh('p/a')],
          ['p/a/b', 'retention', '24h', inh('p/a')],
          ['p/a/b', 'schedule', '*/15 * * * *', inh('p/a')],
          ['p/c', 'snapshot', 'yes', L],
          ['p/c', 'retention', '24h', L],
          ['p/c', 'schedule', '  ', L],
        ),
        N,
      ),
    );
    expect(managed(res.get('p/a')).schedule.cron).toBe('*/15 * * * *');
    expect(managed(res.get('p/a/b')).scheduleOrigin).toBe('p/a');
    expect(managed(res.get('p/c')).schedule.text).toBe('hourly');
  });
});

describe('resolveConfigs: invalid values fail that dataset only, with everything an operator needs', () => {
  const input = rows(
    ['p/ok', 'snapshot', 'yes', L],
    ['p/ok', 'retention', '7d', L],
    ['p/bad', 'snapshot', 'yes', L],
    ['p/bad', 'retention', '7x', L],
    ['p/bad/kid', 'snapshot', 'yes', inh('p/bad')],
    ['p/bad/kid', 'retention', '7x', inh('p/bad')],
    ['p/snap', 'snapshot', 'maybe', L],
    ['p/norete', 'snapshot', 'yes', L],
    ['p/sched', 'snapshot', 'yes', L],
    ['p/sched', 'retention', '7d', L],
    ['p/sched', 'schedule', 'sometimes', L],
    ['p/dst', 'snapshot', 'yes', L],
    ['p/dst', 'retention', '7d', L],
    ['p/dst', 'destinations', 'h:pool/$(id)|daily', L],
    ['p/dst/kid', 'snapshot', 'yes', inh('p/dst')],
    ['p/dst/kid', 'retention', '7d', inh('p/dst')],
    ['p/dst/kid', 'destinations', 'h:pool/$(id)|daily', inh('p/dst')],
    ['p/host', 'snapshot', 'yes', L],
    ['p/host', 'retention', '7d', L],
    ['p/host', 'destinations', 'ho;st:pool/x|daily', L],
  );
  const res = byName(resolveConfigs(input, N));

  test('valid neighbours are still managed', () => {
    managed(res.get('p/ok'));
  });
  test('bad retention, set locally', () => {
    const e = configError(res.get('p/bad'));
    expect(e).toMatchObject({ dataset: 'p/bad', property: 'org.wit:retention', value: '7x', inheritedFrom: 'p/bad' });
    expect(e.message).toBe('p/bad: org.wit:retention="7x" is invalid: unknown unit "x" (use h, d, w, m or y)');
  });
  test('bad retention, inherited: names where it comes from', () => {
    const e = configError(res.get('p/bad/kid'));
    expect(e).toMatchObject({ dataset: 'p/bad/kid', property: 'org.wit:retention', value: '7x', inheritedFrom: 'p/bad' });
    expect(e.message).toBe('p/bad/kid: org.wit:retention="7x" (inherited from p/bad) is invalid: unknown unit "x" (use h, d, w, m or y)');
  });
  test('bad snapshot value', () => {
    expect(configError(res.get('p/snap')).message).toBe('p/snap: org.wit:snapshot="maybe" is invalid: expected yes or no');
  });
  test('missing retention', () => {
    const e = configError(res.get('p/norete'));
    expect(e).toMatchObject({ dataset: 'p/norete', property: 'org.wit:retention', value: '' });
    expect(e.message).toMatch(/^p\/norete: org\.wit:retention="" is invalid: org\.wit:snapshot=yes needs a retention such as 24h30d0w3m$/);
  });
  test('bad schedule', () => {
    const e = configError(res.get('p/sched'));
    expect(e).toMatchObject({ property: 'org.wit:schedule', value: 'sometimes' });
    expect(e.message).toMatch(/^p\/sched: org\.wit:schedule="sometimes" is invalid: unknown schedule "sometimes"/);
  });
  test('hostile destinations, local and inherited', () => {
    expect(configError(res.get('p/dst')).message).toMatch(
      /^p\/dst: org\.wit:destinations="h:pool\/\$\(id\)\|daily" is invalid: destination path "pool\/\$\(id\)": invalid character "\$"/,
    );
    const kid = configError(res.get('p/dst/kid'));
    expect(kid.inheritedFrom).toBe('p/dst');
    expect(kid.message).toMatch(/^p\/dst\/kid: org\.wit:destinations="h:pool\/\$\(id\)\|daily" \(inherited from p\/dst\) is invalid: /);
    expect(configError(res.get('p/host')).message).toMatch(/"ho;st" is not a valid host name/);
  });
  test('the order of the input rows does not matter', () => {
    const again = byName(resolveConfigs([...input].reverse(), N));
    expect([...again.keys()]).toEqual([...res.keys()]);
    for (const [k, v] of res) expect(again.get(k)!.kind).toBe(v.kind);
  });
});

describe('resolveConfigs: destination paths of children', () => {
  test('mapped under the path where the property is set, per destination', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['STORAGE/projects', 'snapshot', 'yes', L],
          ['STORAGE/projects', 'retention', '24h30d0w3m', L],
          ['STORAGE/projects', 'destinations', 'dest-srv:OFFSITE/client/server/projects|hourly,backup/local|daily|7d', L],
          ['STORAGE/projects/web', 'snapshot', 'yes', inh('STORAGE/projects')],
          ['STORAGE/projects/web', 'retention', '24h30d0w3m', inh('STORAGE/projects')],
          ['STORAGE/projects/web', 'destinations', 'dest-srv:OFFSITE/client/server/projects|hourly,backup/local|daily|7d', inh('STORAGE/projects')],
          ['STORAGE/projects/web/img', 'snapshot', 'yes', inh('STORAGE/projects')],
          ['STORAGE/projects/web/img', 'retention', '24h30d0w3m', inh('STORAGE/projects')],
          ['STORAGE/projects/web/img', 'destinations', 'dest-srv:OFFSITE/client/server/projects|hourly,backup/local|daily|7d', inh('STORAGE/projects')],
        ),
        N,
      ),
    );
    const paths = (d: string) => managed(res.get(d)).destinations.map((x) => [x.host ?? 'local', x.datasetPath, x.origin]);
    expect(paths('STORAGE/projects')).toEqual([
      ['dest-srv', 'OFFSITE/client/server/projects', 'STORAGE/projects'],
      ['local', 'backup/local', 'STORAGE/projects'],
    ]);
    expect(paths('STORAGE/projects/web')).toEqual([
      ['dest-srv', 'OFFSITE/client/server/projects/web', 'STORAGE/projects'],
      ['local', 'backup/local/web', 'STORAGE/projects'],
    ]);
    expect(paths('STORAGE/projects/web/img')).toEqual([
      ['dest-srv', 'OFFSITE/client/server/projects/web/img', 'STORAGE/projects'],
      ['local', 'backup/local/web/img', 'STORAGE/projects'],
    ]);
    expect(managed(res.get('STORAGE/projects/web')).destinations[1]!.retention).toEqual({ h: 0, d: 7, w: 0, m: 0, y: 0 });
  });
  test('a child set locally uses its own path', () => {
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'snapshot', 'yes', L],
          ['p/a', 'retention', '7d', L],
          ['p/a', 'destinations', 'h:b/a|daily', L],
          ['p/a/b', 'snapshot', 'yes', inh('p/a')],
          ['p/a/b', 'retention', '7d', inh('p/a')],
          ['p/a/b', 'destinations', 'h:elsewhere/bb|daily', L],
          ['p/a/b/c', 'snapshot', 'yes', inh('p/a')],
          ['p/a/b/c', 'retention', '7d', inh('p/a')],
          ['p/a/b/c', 'destinations', 'h:elsewhere/bb|daily', inh('p/a/b')],
        ),
        N,
      ),
    );
    expect(managed(res.get('p/a/b')).destinations[0]!.datasetPath).toBe('elsewhere/bb');
    expect(managed(res.get('p/a/b/c')).destinations[0]!.datasetPath).toBe('elsewhere/bb/c');
  });
  test('a mapped child path longer than 255 characters fails that child only', () => {
    const long = 'b/' + 'x'.repeat(250);
    const res = byName(
      resolveConfigs(
        rows(
          ['p/a', 'snapshot', 'yes', L],
          ['p/a', 'retention', '7d', L],
          ['p/a', 'destinations', `h:${long}|daily`, L],
          ['p/a/child', 'snapshot', 'yes', inh('p/a')],
          ['p/a/child', 'retention', '7d', inh('p/a')],
          ['p/a/child', 'destinations', `h:${long}|daily`, inh('p/a')],
        ),
        N,
      ),
    );
    managed(res.get('p/a'));
    const e = configError(res.get('p/a/child'));
    expect(e.property).toBe('org.wit:destinations');
    expect(e.message).toMatch(/longer than 255 characters/);
  });
});
