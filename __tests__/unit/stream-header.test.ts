import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { RECORD, restoreStreamVerdict, streamVerdict } from '../../lib/sink/stream-header.js';

/** The first records of real zfs-fuse send streams (see __tests__/fixtures/zfs-fuse/streams). */
const stream = (name: string) => readFileSync(new URL(`../fixtures/zfs-fuse/streams/${name}.bin`, import.meta.url));

describe('the restricted sink lets into zfs receive only the streams zback sends', () => {
  test.each(['full', 'incremental-i', 'incremental-I'])('%s: accepted', (name) => {
    expect(streamVerdict(stream(name))).toEqual({ ok: true });
  });

  test.each([
    ['props', /replication or properties stream/],
    ['replicate', /replication or properties stream/],
    ['clone', /a clone stream/],
  ])('%s: refused', (name, why) => {
    const v = streamVerdict(stream(name));
    expect(v).toEqual({ ok: false, why: expect.stringMatching(why) });
  });

  test('asks for more until it can decide; garbage is refused', () => {
    expect(streamVerdict(Buffer.alloc(0))).toEqual({ need: RECORD });
    expect(streamVerdict(stream('incremental-I').subarray(0, RECORD))).toEqual({ need: 3 * RECORD });
    expect(streamVerdict(Buffer.alloc(RECORD, 0x41))).toEqual({ ok: false, why: expect.stringMatching(/does not start with a ZFS send stream header/) });
  });

  test('a byte-swapped (other-endian) header is read as such', () => {
    const le = Buffer.from(stream('clone').subarray(0, RECORD));
    const be = Buffer.alloc(RECORD);
    for (const [at, size] of [
      [0, 4],
      [4, 4],
      [8, 8],
      [16, 8],
      [24, 8],
      [32, 4],
      [36, 4],
      [40, 8],
      [48, 8],
    ] as const) {
      for (let i = 0; i < size; i++) be[at + i] = le[at + size - 1 - i]!;
    }
    le.copy(be, 56, 56);
    expect(streamVerdict(be)).toEqual({ ok: false, why: expect.stringMatching(/a clone stream/) });
  });

  test('a compound stream whose first part is a clone is refused', () => {
    const forged = Buffer.concat([stream('incremental-I').subarray(0, 2 * RECORD), stream('clone').subarray(0, RECORD)]);
    expect(streamVerdict(forged)).toEqual({ ok: false, why: expect.stringMatching(/a clone stream/) });
  });
});

describe('zback restore lets into zfs receive only the one full stream of the snapshot asked for', () => {
  /** The snapshot guid a stream's BEGIN record names (toguid, at byte 40, little-endian here). */
  const toguid = (b: Buffer) => b.readBigUInt64LE(40).toString();
  test('the full stream of that snapshot: accepted', () => {
    const full = stream('full');
    expect(restoreStreamVerdict(full, toguid(full))).toEqual({ ok: true });
  });
  test.each([
    ['incremental-i', /an incremental stream/],
    ['incremental-I', /replication, properties or multi-snapshot stream/],
    ['props', /replication, properties or multi-snapshot stream/],
    ['replicate', /replication, properties or multi-snapshot stream/],
    ['clone', /a clone stream/],
  ])('%s: refused', (name, why) => {
    const b = stream(name);
    expect(restoreStreamVerdict(b, toguid(b))).toEqual({ ok: false, why: expect.stringMatching(why) });
  });
  test('a full stream of another snapshot, and bytes that are no stream: refused', () => {
    const full = stream('full');
    expect(restoreStreamVerdict(full, '12345')).toEqual({ ok: false, why: expect.stringMatching(/a stream of another snapshot \(guid \d+, not 12345\)/) });
    expect(restoreStreamVerdict(Buffer.alloc(RECORD, 7), toguid(full))).toEqual({
      ok: false,
      why: expect.stringMatching(/does not start with a ZFS send stream header/),
    });
    expect(restoreStreamVerdict(full.subarray(0, 100), toguid(full))).toEqual({ need: RECORD });
  });
});
