import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  crossCheckRows,
  parseInventory,
  parseNameList,
  parsePropertyRows,
  parsePropertyRowsValueFirst,
  parseZfsVersion,
  zfsUnavailableReason,
} from '../../lib/zfs/parse.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zfs-fuse');

describe('parsePropertyRows', () => {
  test('four tab-separated fields, source with spaces', () => {
    expect(parsePropertyRows('tank/a\torg.wit:snapshot\tyes\tlocal\ntank/a/b\torg.wit:snapshot\tyes\tinherited from tank/a\n')).toEqual([
      { name: 'tank/a', property: 'org.wit:snapshot', value: 'yes', source: 'local' },
      { name: 'tank/a/b', property: 'org.wit:snapshot', value: 'yes', source: 'inherited from tank/a' },
    ]);
  });
  test('values with spaces and tabs stay whole', () => {
    const rows = parsePropertyRows('tank/a\torg.wit:schedule\t0 0,12 * * *\tlocal\ntank/a\torg.wit:x\ta\tb\t c \tinherited from tank\n');
    expect(rows[0]!.value).toBe('0 0,12 * * *');
    expect(rows[1]).toEqual({ name: 'tank/a', property: 'org.wit:x', value: 'a\tb\t c ', source: 'inherited from tank' });
  });
  test('empty value, dataset names with spaces', () => {
    expect(parsePropertyRows('tank/my data\torg.wit:retention\t\tlocal')).toEqual([
      { name: 'tank/my data', property: 'org.wit:retention', value: '', source: 'local' },
    ]);
  });
  test('no output → no rows; malformed lines throw', () => {
    expect(parsePropertyRows('')).toEqual([]);
    expect(() => parsePropertyRows('tank/a\torg.wit:snapshot\tyes\n')).toThrow(/unexpected zfs get output/);
    expect(() => parsePropertyRows('garbage\n')).toThrow(/unexpected zfs get output/);
  });
  // ZFS user property values may contain newlines; `zfs get -H` prints them raw.
  test('a value with a newline does not break the other rows', () => {
    const text = 'tank/a\torg.wit:destinations\th:p/x|daily\nevil:p/y|daily\tlocal\ntank/b\torg.wit:snapshot\tyes\tlocal\n';
    expect(parsePropertyRows(text)).toEqual([
      { name: 'tank/a', property: 'org.wit:destinations', value: 'h:p/x|daily\nevil:p/y|daily', source: 'local' },
      { name: 'tank/b', property: 'org.wit:snapshot', value: 'yes', source: 'local' },
    ]);
  });
  test('recorded zfs-fuse output', () => {
    const rows = parsePropertyRows(readFileSync(join(FIX, 'get-config.txt'), 'utf8'));
    expect(rows).toHaveLength(43);
    expect(rows).toContainEqual({ name: 'tank/data', property: 'org.wit:destinations', value: 'backup:bpool/data|daily', source: 'local' });
    expect(rows).toContainEqual({ name: 'tank/data/db', property: 'org.wit:retention', value: '48h', source: 'local' });
    expect(rows).toContainEqual({ name: 'tank/recv', property: 'org.wit:retention', value: '7d', source: 'received' });
    expect(rows).toContainEqual({ name: 'tank/recv/child', property: 'org.wit:schedule', value: 'hourly', source: 'inherited from tank/recv' });
    expect(rows.every((r) => r.source === 'local' || r.source === 'received' || r.source.startsWith('inherited from '))).toBe(true);
  });
});

describe('parseInventory', () => {
  test('OpenZFS rows: encryption per dataset (snapshots repeat it; ignored there), resume token', () => {
    const inv = parseInventory(
      [
        'tank/e\tguid\t11',
        'tank/e\tcreatetxg\t5',
        'tank/e\tuserrefs\t-',
        'tank/e\treceive_resume_token\t-',
        'tank/e\tencryption\taes-256-gcm',
        'tank/e@s1\tguid\t12',
        'tank/e@s1\tcreatetxg\t6',
        'tank/e@s1\tuserrefs\t0',
        'tank/e@s1\tencryption\taes-256-gcm',
        'tank/p\tguid\t21',
        'tank/p\tcreatetxg\t7',
        'tank/p\tuserrefs\t-',
        'tank/p\treceive_resume_token\t1-ab-cd-ef',
        'tank/p\tencryption\toff',
      ].join('\n') + '\n',
    );
    expect(inv.get('tank/e')).toEqual({
      name: 'tank/e',
      guid: '11',
      createtxg: 5,
      encryption: 'aes-256-gcm',
      snapshots: [{ name: 's1', guid: '12', createtxg: 6, userrefs: 0 }],
    });
    expect(inv.get('tank/p')).toMatchObject({ encryption: 'off', resumeToken: '1-ab-cd-ef', snapshots: [] });
  });
  test('recorded zfs-fuse output: datasets, snapshots in createtxg order, holds', () => {
    const inv = parseInventory(readFileSync(join(FIX, 'get-inventory.txt'), 'utf8'));
    expect([...inv.keys()].sort()).toEqual(['tank', 'tank/data', 'tank/data/db', 'tank/data/web', 'tank/off', 'tank/other', 'tank/recv', 'tank/recv/child']);
    const data = inv.get('tank/data')!;
    expect(data.guid).toBe('2902393178850875926');
    expect(data.createtxg).toBe(7);
    expect(data.resumeToken).toBeUndefined();
    expect(data.snapshots).toEqual([
      { name: '2026-11-25-100000', guid: '6046963338987949297', createtxg: 29, userrefs: 1 },
      { name: '2026-11-25-110000', guid: '8685571192537808547', createtxg: 45, userrefs: 0 },
      { name: 'manual-1', guid: '10747239471665708230', createtxg: 50, userrefs: 0 },
    ]);
    expect(inv.get('tank/recv/child')!.snapshots).toEqual([]);
    expect(inv.get('tank')!.snapshots).toEqual([]);
    // guids stay strings: 64-bit values do not fit a double.
    expect(typeof inv.get('tank/other')!.snapshots[0]!.guid).toBe('string');
    expect(inv.get('tank/other')!.snapshots[0]!.guid).toBe('10655286440368372499');
  });
  test('snapshots sorted by createtxg whatever the line order; "-" userrefs is 0', () => {
    const inv = parseInventory(
      [
        'p/a@b\tcreatetxg\t20',
        'p/a@b\tguid\t2',
        'p/a@b\tuserrefs\t-',
        'p/a@a\tcreatetxg\t10',
        'p/a@a\tguid\t1',
        'p/a@a\tuserrefs\t3',
        'p/a\tguid\t99',
        'p/a\tcreatetxg\t5',
      ].join('\n'),
    );
    expect(inv.get('p/a')).toEqual({
      name: 'p/a',
      guid: '99',
      createtxg: 5,
      snapshots: [
        { name: 'a', guid: '1', createtxg: 10, userrefs: 3 },
        { name: 'b', guid: '2', createtxg: 20, userrefs: 0 },
      ],
    });
  });
  test('resume token on OpenZFS; "-" means none', () => {
    const inv = parseInventory('p/a\tguid\t1\np/a\treceive_resume_token\t1-abc-def\np/b\tguid\t2\np/b\treceive_resume_token\t-\n');
    expect(inv.get('p/a')!.resumeToken).toBe('1-abc-def');
    expect(inv.get('p/b')!.resumeToken).toBeUndefined();
  });
  // OpenZFS lists bookmarks unless told the types; they are neither datasets nor snapshots.
  test('bookmark rows (OpenZFS) do not become datasets', () => {
    const inv = parseInventory(
      [
        'tank/a\tguid\t1',
        'tank/a\tcreatetxg\t5',
        'tank/a\tuserrefs\t-',
        'tank/a\treceive_resume_token\t-',
        'tank/a@s1\tguid\t2',
        'tank/a@s1\tcreatetxg\t6',
        'tank/a@s1\tuserrefs\t0',
        'tank/a@s1\treceive_resume_token\t-',
        'tank/a#keep\tguid\t2',
        'tank/a#keep\tcreatetxg\t6',
        'tank/a#keep\tuserrefs\t-',
        'tank/a#keep\treceive_resume_token\t-',
      ].join('\n'),
    );
    expect([...inv.keys()]).toEqual(['tank/a']);
    expect(inv.get('tank/a')!.snapshots.map((s) => s.name)).toEqual(['s1']);
  });
  test('names with spaces; malformed lines throw', () => {
    const inv = parseInventory('p/my data\tguid\t1\np/my data@snap 1\tguid\t2\np/my data@snap 1\tcreatetxg\t3\n');
    expect(inv.get('p/my data')!.snapshots.map((s) => s.name)).toEqual(['snap 1']);
    expect(() => parseInventory('p/a guid 1\n')).toThrow(/unexpected zfs get output/);
    // A line with one tab, even when a later line has more: the fields stop at the line's end.
    expect(() => parseInventory('p/a\tguid\np/b\tguid\t2\n')).toThrow(/unexpected zfs get output line: "p\/a\\tguid"/);
    expect(() => parseInventory('p/a\tguid\t1\n\np/b\tguid\t2\n')).toThrow(/unexpected zfs get output line: ""/);
    // The last line may lack its newline.
    expect(inv.get('p/my data')!.guid).toBe('1');
    expect(parseInventory('p/a\tguid\t7').get('p/a')!.guid).toBe('7');
    expect(parseInventory('').size).toBe(0);
  });
  test("an object's properties need not be on consecutive lines", () => {
    const inv = parseInventory('p/a\tguid\t1\np/a@s\tguid\t2\np/a\tcreatetxg\t5\np/a@s\tcreatetxg\t6\np/a@s\tuserrefs\t1\np/a@s\tguid\t2\n');
    expect(inv.get('p/a')).toEqual({ name: 'p/a', guid: '1', createtxg: 5, snapshots: [{ name: 's', guid: '2', createtxg: 6, userrefs: 1 }] });
  });
});

describe('parseZfsVersion', () => {
  test.each<[string, string | null]>([
    ['zfs-2.3.2-2~bpo12+2\nzfs-kmod-2.3.2-2~bpo12+2', '2.3.2'],
    ['zfs-2.3.2-2~bpo12+2\nzfs-kmod-2.3.2-2~bpo12+2\n', '2.3.2'],
    ['zfs-2.1.11-1', '2.1.11'],
    ['zfs-0.8.3-1ubuntu12.17\nzfs-kmod-0.8.3-1ubuntu12.17\n', '0.8.3'],
    ['zfs-2.1.14-FreeBSD_gd99134be8\nzfs-kmod-v2023120100-zfs_f4871096b', '2.1.14'],
    ['zfs-2.2', '2.2'],
    ['', null],
    ["unrecognized command 'version'\nusage: zfs command args ...", null],
    ['zfs-kmod-2.3.2-1', null],
  ])('%j → %j', (text, expected) => {
    expect(parseZfsVersion(text)).toBe(expected);
  });
});

describe('parseNameList', () => {
  test('recorded zfs list output', () => {
    expect(parseNameList(readFileSync(join(FIX, 'list-datasets.txt'), 'utf8'))).toEqual([
      'tank',
      'tank/data',
      'tank/data/db',
      'tank/data/web',
      'tank/off',
      'tank/other',
      'tank/recv',
      'tank/recv/child',
    ]);
    expect(parseNameList('')).toEqual([]);
  });
});

describe('crossCheckRows: forged rows are caught by reading the output twice', () => {
  const forged = '7d\tlocal\ntank/b\torg.wit:destinations\tevil:p/y|daily';
  // What `zfs get -H` prints for the same data with the two column orders.
  const nameFirst = `tank/a\torg.wit:retention\t${forged}\tlocal\ntank/c\torg.wit:snapshot\tyes\tlocal\n`;
  const valueFirst = `${forged}\tlocal\torg.wit:retention\ttank/a\nyes\tlocal\torg.wit:snapshot\ttank/c\n`;
  test('the name-first reading alone is fooled', () => {
    expect(parsePropertyRows(nameFirst)).toContainEqual({ name: 'tank/b', property: 'org.wit:destinations', value: 'evil:p/y|daily', source: 'local' });
  });
  test('together they disagree: both datasets named are unreadable, the rest is kept', () => {
    const { rows, unreadable } = crossCheckRows(parsePropertyRows(nameFirst), parsePropertyRowsValueFirst(valueFirst));
    expect([...unreadable].sort()).toEqual(['tank/a', 'tank/b']);
    expect(rows).toEqual([{ name: 'tank/c', property: 'org.wit:snapshot', value: 'yes', source: 'local' }]);
  });
  test('an honest multi-line value reads the same both ways', () => {
    const v = 'h:p/x|daily\nsecond line';
    const { rows, unreadable } = crossCheckRows(
      parsePropertyRows(`tank/a\torg.wit:destinations\t${v}\tlocal\n`),
      parsePropertyRowsValueFirst(`${v}\tlocal\torg.wit:destinations\ttank/a\n`),
    );
    expect(unreadable.size).toBe(0);
    expect(rows).toEqual([{ name: 'tank/a', property: 'org.wit:destinations', value: v, source: 'local' }]);
  });
  test('recorded output read both ways agrees', () => {
    const text = readFileSync(join(FIX, 'get-config.txt'), 'utf8');
    const rows = parsePropertyRows(text);
    const swapped = rows.map((r) => `${r.value}\t${r.source}\t${r.property}\t${r.name}\n`).join('');
    const checked = crossCheckRows(rows, parsePropertyRowsValueFirst(swapped));
    expect(checked.unreadable.size).toBe(0);
    expect(checked.rows).toHaveLength(rows.length);
  });
});

describe('zfsUnavailableReason on the errors zfs-fuse really prints (fixtures/zfs-fuse/errors.txt)', () => {
  /** The recorded failures: "=== argv" (one word per line), "=== rc", "=== stderr". */
  const recorded = readFileSync(join(FIX, 'errors.txt'), 'utf8')
    .split('=== argv\n')
    .slice(1)
    .map((block) => {
      const [argv, rest] = block.split('=== rc\n') as [string, string];
      const [rc, stderr] = rest.split('=== stderr\n') as [string, string];
      return { argv: argv.trim().split('\n').join(' '), code: Number(rc.trim()), stderr };
    });

  test('seven failures recorded, none of them taken for "ZFS is not available" (they are about the command)', () => {
    expect(recorded.map((r) => r.argv.split(' ').slice(0, 2).join(' '))).toEqual([
      'zfs version',
      'zfs snapshot',
      'zfs destroy',
      'zfs get',
      'zfs list',
      'zfs get',
      'zfs get',
    ]);
    for (const r of recorded) expect([r.argv, zfsUnavailableReason(r.code, r.stderr)]).toEqual([r.argv, null]);
  });

  test('what zfs-fuse prints when its daemon is not running is recognised', () => {
    const noDaemon =
      'connect: No such file or directory\nPlease make sure that the zfs-fuse daemon is running.\ninternal error: failed to initialize ZFS library\n';
    expect(zfsUnavailableReason(1, noDaemon)).toMatch(/zfs-fuse daemon is not running/);
  });
});
