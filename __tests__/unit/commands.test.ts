import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilitiesFor, LEGACY_CAPABILITIES } from '../../lib/zfs/capabilities.js';
import {
  configCommand,
  datasetPropertiesCommand,
  destroyCommands,
  inheritPropertyCommand,
  inventoryCommand,
  sendEstimateCommand,
  sendFullCommand,
  poolFeaturesCommand,
  sendIncrementalCommand,
  listDatasetsCommand,
  setPropertyCommand,
  snapshotCommand,
  snapshotRecursiveCommand,
  versionCommand,
} from '../../lib/zfs/commands.js';
import { propertyList, propertyNames } from '../../lib/policy/properties.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zfs-fuse');
const recorded = (f: string) => readFileSync(join(FIX, f), 'utf8').trimEnd().split('\n');

const OZ = capabilitiesFor('2.3.2');
const LEG = LEGACY_CAPABILITIES;
const PROPS = propertyList(propertyNames('org.wit'));

describe('capabilities', () => {
  test('no `zfs version` → legacy; a version → OpenZFS with every feature', () => {
    expect(capabilitiesFor(null)).toBe(LEGACY_CAPABILITIES);
    expect(LEG).toMatchObject({
      openzfs: false,
      multiSnapshot: false,
      destroyList: false,
      getTypeFilter: false,
      resumableReceive: false,
      sendEstimate: false,
      encryption: false,
      receiveProperties: false,
    });
    expect(OZ).toMatchObject({
      openzfs: true,
      multiSnapshot: true,
      destroyList: true,
      getTypeFilter: true,
      resumableReceive: true,
      sendEstimate: true,
      encryption: true,
      receiveProperties: true,
    });
    expect(OZ.description).toBe('OpenZFS 2.3.2');
    expect(Object.isFrozen(LEG)).toBe(true);
  });
});

describe('discovery commands', () => {
  test('version', () => {
    expect(versionCommand()).toEqual(['zfs', 'version']);
  });
  test('config: legacy is exactly the recorded zfs-fuse command; OpenZFS adds -t filesystem,volume', () => {
    // The recording asked for the four properties of SPEC §1; zback may ask for more.
    const rec = recorded('get-config.cmd');
    expect(rec[rec.length - 1]).toBe('org.wit:snapshot,org.wit:retention,org.wit:destinations,org.wit:schedule');
    expect(PROPS.slice(0, 4)).toEqual(rec[rec.length - 1]!.split(','));
    expect(configCommand(PROPS, LEG)).toEqual([...rec.slice(0, -1), PROPS.join(',')]);
    expect(configCommand(PROPS, OZ)).toEqual([
      'zfs',
      'get',
      '-H',
      '-p',
      '-o',
      'name,property,value,source',
      '-s',
      'local,inherited,received',
      '-t',
      'filesystem,volume',
      '-r',
      PROPS.join(','),
    ]);
  });
  test('inventory: legacy is the recorded command; OpenZFS asks for receive_resume_token and leaves bookmarks out', () => {
    expect(inventoryCommand(['tank'], LEG)).toEqual(recorded('get-inventory.cmd'));
    expect(inventoryCommand(['tank/a', 'pool2'], OZ)).toEqual([
      'zfs',
      'get',
      '-H',
      '-p',
      '-o',
      'name,property,value',
      '-t',
      'filesystem,volume,snapshot',
      '-r',
      'guid,createtxg,userrefs,receive_resume_token,encryption',
      'tank/a',
      'pool2',
    ]);
  });
  test('inventory refuses invalid roots', () => {
    expect(() => inventoryCommand(['tank/a;id'], OZ)).toThrow(/refusing to build a zfs command for "tank\/a;id"/);
    expect(() => inventoryCommand(['-r'], OZ)).toThrow(/refusing/);
    expect(() => inventoryCommand(['tank', 'tank@snap'], LEG)).toThrow(/refusing.*"@"/);
  });
  test('sends: plain, raw (-w) for an encrypted dataset, or with -L -e -c; names and options checked', () => {
    expect(sendFullCommand('tank/a', 's1')).toEqual(['zfs', 'send', 'tank/a@s1']);
    expect(sendFullCommand('tank/a', 's1', ['-w'])).toEqual(['zfs', 'send', '-w', 'tank/a@s1']);
    expect(sendFullCommand('tank/a', 's1', ['-L', '-e', '-c'])).toEqual(['zfs', 'send', '-L', '-e', '-c', 'tank/a@s1']);
    expect(sendIncrementalCommand('tank/a', 's1', 's3', true)).toEqual(['zfs', 'send', '-I', 'tank/a@s1', 'tank/a@s3']);
    expect(sendIncrementalCommand('tank/a', 's1', 's3', false, ['-w'])).toEqual(['zfs', 'send', '-w', '-i', 'tank/a@s1', 'tank/a@s3']);
    expect(sendIncrementalCommand('tank/a', 's1', 's3', true, ['-L', '-c'])).toEqual(['zfs', 'send', '-L', '-c', '-I', 'tank/a@s1', 'tank/a@s3']);
    expect(sendEstimateCommand(sendIncrementalCommand('tank/a', 's1', 's3', true, ['-w']))).toEqual([
      'zfs',
      'send',
      '-nP',
      '-w',
      '-I',
      'tank/a@s1',
      'tank/a@s3',
    ]);
    expect(() => sendFullCommand('tank/a', 's1;id', ['-w'])).toThrow(/refusing/);
    expect(() => sendFullCommand('tank/a', 's1', ['-R' as '-L'])).toThrow(/refusing a zfs send option that is not a stream option: "-R"/);
  });
  test('pool features: one zpool get for the pools named, pool names checked', () => {
    expect(poolFeaturesCommand(['tank', 'bpool'])).toEqual([
      'zpool',
      'get',
      '-H',
      '-o',
      'name,property,value',
      'feature@large_blocks,feature@embedded_data,feature@lz4_compress,feature@zstd_compress,feature@bookmarks,feature@bookmark_v2,feature@encryption',
      'tank',
      'bpool',
    ]);
    expect(() => poolFeaturesCommand([])).toThrow(/without a pool/);
    expect(() => poolFeaturesCommand(['tank/a'])).toThrow(/not a pool name/);
    expect(() => poolFeaturesCommand(['-o'])).toThrow();
  });
  test('list datasets is the recorded command', () => {
    expect(listDatasetsCommand()).toEqual(recorded('list-datasets.cmd'));
  });
});

describe('snapshot commands', () => {
  test('recursive', () => {
    expect(snapshotRecursiveCommand('tank/data', '2026-11-25-120000')).toEqual(['zfs', 'snapshot', '-r', 'tank/data@2026-11-25-120000']);
  });
  test('one or several names', () => {
    expect(snapshotCommand(['tank/a'], 'n')).toEqual(['zfs', 'snapshot', 'tank/a@n']);
    expect(snapshotCommand(['tank/a', 'tank/b c'], 'n')).toEqual(['zfs', 'snapshot', 'tank/a@n', 'tank/b c@n']);
  });
  test('refuse invalid dataset or snapshot names', () => {
    expect(() => snapshotCommand(['tank/a', 'tank/$(id)'], 'n')).toThrow(/refusing.*tank\/\$\(id\)/);
    expect(() => snapshotCommand(['tank/a'], 'x;id')).toThrow(/refusing.*"tank\/a@x;id"/);
    expect(() => snapshotCommand(['tank/a'], '')).toThrow(/snapshot name is empty/);
    expect(() => snapshotRecursiveCommand('-rf', 'n')).toThrow(/refusing/);
    expect(() => snapshotRecursiveCommand('tank', 'a@b')).toThrow(/refusing/);
  });
});

describe('destroy commands: exactly the named snapshots', () => {
  const snaps = ['2026-11-25-100000', '2026-11-25-110000', '2026-11-25-120000'];
  test('legacy: one command per snapshot', () => {
    expect(destroyCommands('tank/data', snaps, LEG)).toEqual([
      ['zfs', 'destroy', 'tank/data@2026-11-25-100000'],
      ['zfs', 'destroy', 'tank/data@2026-11-25-110000'],
      ['zfs', 'destroy', 'tank/data@2026-11-25-120000'],
    ]);
  });
  test('OpenZFS: one comma list', () => {
    expect(destroyCommands('tank/data', snaps, OZ)).toEqual([['zfs', 'destroy', 'tank/data@2026-11-25-100000,2026-11-25-110000,2026-11-25-120000']]);
  });
  test('OpenZFS: batches of 100', () => {
    const many = Array.from({ length: 250 }, (_, i) => `s${i}`);
    const argvs = destroyCommands('tank/a', many, OZ);
    expect(argvs).toHaveLength(3);
    expect(argvs.map((a) => a[2]!.split('@')[1]!.split(',').length)).toEqual([100, 100, 50]);
    expect(argvs.flatMap((a) => a[2]!.split('@')[1]!.split(','))).toEqual(many);
  });
  test('nothing to destroy → no command', () => {
    expect(destroyCommands('tank/a', [], OZ)).toEqual([]);
    expect(destroyCommands('tank/a', [], LEG)).toEqual([]);
  });
  test('never -r, -R, -f, -d, and never a dataset without @', () => {
    const many = Array.from({ length: 120 }, (_, i) => `2026-01-01-${String(i).padStart(6, '0')}`);
    for (const caps of [LEG, OZ]) {
      for (const argv of destroyCommands('tank/a/b', many, caps)) {
        expect(argv.slice(0, 2)).toEqual(['zfs', 'destroy']);
        expect(argv).toHaveLength(3);
        expect(argv.some((a) => a.startsWith('-'))).toBe(false);
        expect(argv[2]).toMatch(/^tank\/a\/b@[^@]+$/);
      }
    }
  });
  test('refuses names that would widen what is destroyed', () => {
    // "%" is a range in `zfs destroy`, "," a list separator, an empty name would be the dataset itself.
    for (const bad of ['a%b', 'a,b', '', 'a@b', 'x y;z']) {
      expect(() => destroyCommands('tank/a', ['ok', bad], OZ)).toThrow(/refusing/);
      expect(() => destroyCommands('tank/a', [bad], LEG)).toThrow(/refusing/);
    }
    expect(() => destroyCommands('-R tank', ['s'], LEG)).toThrow(/refusing/);
    expect(() => destroyCommands('tank/a@b', ['s'], LEG)).toThrow(/refusing/);
  });
});

describe('property commands', () => {
  test('set, inherit, get of one dataset', () => {
    expect(setPropertyCommand('tank/a', 'org.wit:destinations', 'h:p/x|0 0,12 * * *')).toEqual([
      'zfs',
      'set',
      'org.wit:destinations=h:p/x|0 0,12 * * *',
      'tank/a',
    ]);
    expect(inheritPropertyCommand('tank/a', 'org.wit:retention')).toEqual(['zfs', 'inherit', 'org.wit:retention', 'tank/a']);
    expect(datasetPropertiesCommand('tank/a', PROPS)).toEqual(['zfs', 'get', '-H', '-p', '-o', 'name,property,value,source', PROPS.join(','), 'tank/a']);
  });
  test('refuse invalid datasets', () => {
    expect(() => setPropertyCommand('tank/a b;', 'p:x', 'v')).toThrow(/refusing/);
    expect(() => inheritPropertyCommand('', 'p:x')).toThrow(/refusing/);
    expect(() => datasetPropertiesCommand('tank/a@s', PROPS)).toThrow(/refusing/);
  });
});
