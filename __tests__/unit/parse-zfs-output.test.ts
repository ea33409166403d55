import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseInventory, parseNameList, parsePropertyRows, parseZfsVersion } from '../../lib/zfs/parse.js';

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
    expect(() => parsePropertyRows('tank/a\torg.wit:snapshot\tyes\n')).toThrow(/unexpected zfs get output line/);
    expect(() => parsePropertyRows('garbage\n')).toThrow(/unexpected zfs get output line/);
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
  test('names with spaces; malformed lines throw', () => {
    const inv = parseInventory('p/my data\tguid\t1\np/my data@snap 1\tguid\t2\np/my data@snap 1\tcreatetxg\t3\n');
    expect(inv.get('p/my data')!.snapshots.map((s) => s.name)).toEqual(['snap 1']);
    expect(() => parseInventory('p/a guid 1\n')).toThrow(/unexpected zfs get output line/);
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
