/**
 * When is an interrupted receive beyond resuming? The texts are OpenZFS's own (libzfs
 * zfs_send_resume and zfs_receive); a wrong "yes" throws away a partial transfer that the next run
 * could have finished, a wrong "no" leaves the destination stuck for good.
 */
import { describe, expect, test } from '@jest/globals';
import { resumeTokenUnusable } from '../../lib/zfs/parse.js';

const failed = (sendStderr: string, recvStderr = '', bytes = 0, sendCode: number | null = 1) =>
  resumeTokenUnusable({ sendStderr, sendCode, recvStderr, bytes });

describe('the token can never be used: discard the partial state', () => {
  test.each([
    "cannot resume send: 'tank/x@2026-11-26-100000' is no longer the same snapshot used in the initial send",
    "cannot resume send: 'tank/x@2026-11-26-100000' used in the initial send no longer exists",
    'cannot resume send: incremental source 0xa3f2c0ffee000001 no longer exists',
    'cannot resume send: resume token is corrupt',
  ])('%s', (message) => {
    expect(failed(`${message}\n`, 'cannot receive: failed to read from stream\n')).toBe(true);
  });

  test('the receiver refuses the resume stream itself', () => {
    expect(failed('', 'cannot receive resume stream: kernel modules must be upgraded to receive this stream.\n', 1000, null)).toBe(true);
  });

  test('an unknown complaint from the sender before any byte was sent', () => {
    expect(failed('cannot resume send: Invalid argument\n')).toBe(true);
  });
});

describe('the link dropped: keep the partial state for the next run', () => {
  test('a stream cut off mid-way, the receiver saved what arrived', () => {
    const recv =
      'cannot receive resume stream: checksum mismatch or incomplete stream.\nPartially received snapshot is saved.\n' +
      'A resuming stream can be generated on the sending system by running:\n    zfs send -t 1-abc-def-ghi\n';
    expect(failed('', recv, 52_428_800, null)).toBe(false);
  });

  test('a broken pipe after data went through', () => {
    expect(failed('cannot resume send: Broken pipe\n', '', 1_048_576, 1)).toBe(false);
  });

  test('the sender killed (connection lost) before any byte: no exit code, no verdict on the token', () => {
    expect(failed('', '', 0, null)).toBe(false);
  });

  test('the sender failed silently before any byte', () => {
    expect(failed('', 'client_loop: send disconnect: Broken pipe\n', 0, 1)).toBe(false);
  });
});
