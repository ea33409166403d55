/** A run's failures in words (lib/report/failures.ts): one line per kind, as stderr, the state file and status show them. */
import { describe, expect, test } from '@jest/globals';
import type { Failure } from '../../lib/execute/executor.js';
import { failureLine, failureText, isReplicationFailure, recordedError } from '../../lib/report/failures.js';

const d = 'tank/a';
describe('failureText', () => {
  test.each<[Failure, string]>([
    [
      { kind: 'planning', dataset: d, reason: 'tank/a: org.wit:retention="24q" is invalid: unknown unit "q"' },
      'tank/a: org.wit:retention="24q" is invalid: unknown unit "q"',
    ],
    [
      { kind: 'broken', dataset: d, where: 'bk:b/a', unreachable: true, reason: 'connection refused' },
      'replication to bk:b/a: unreachable: connection refused',
    ],
    [{ kind: 'broken', dataset: d, where: 'bk:b/a', unreachable: false, reason: 'bk:b/a has diverged' }, 'replication to bk:b/a: bk:b/a has diverged'],
    [{ kind: 'snapshot', dataset: d, reason: 'out of space' }, 'snapshot failed: out of space'],
    [{ kind: 'replication', dataset: d, where: 'bk:b/a', reason: 'zfs recv failed' }, 'replication to bk:b/a failed: zfs recv failed'],
    [
      { kind: 'replication', dataset: d, where: 'bk:b/a', reason: 'token unusable', discarded: { ok: true } },
      'replication to bk:b/a failed: token unusable; its partial state was discarded: the next run starts again from the last common snapshot',
    ],
    [
      { kind: 'replication', dataset: d, where: 'bk:b/a', reason: 'token unusable', discarded: { ok: false, reason: 'busy' } },
      'replication to bk:b/a failed: token unusable; discarding it failed too: busy',
    ],
    [{ kind: 'discard', dataset: d, where: 'bk:b/a', reason: 'busy' }, 'replication to bk:b/a: discarding it failed too: busy'],
    [
      { kind: 'mark', dataset: d, where: 'bk:b/a', property: 'canmount=noauto', reason: 'permission denied' },
      'could not mark bk:b/a as a copy (canmount=noauto): permission denied',
    ],
    [{ kind: 'hold', dataset: d, where: 'bk:b/a', reason: 'out of space' }, 'hold bookkeeping for bk:b/a: out of space'],
    [
      { kind: 'stale-hold', dataset: d, where: 'tank/a', tag: 'zback:old:b/a', snapshot: 's1', reason: 'busy' },
      'could not release stale hold zback:old:b/a on tank/a@s1: busy',
    ],
    [{ kind: 'prune', dataset: d, where: 'tank/a', reason: 'busy' }, 'prune of tank/a failed: busy'],
    [
      { kind: 'not-run', dataset: d, where: 'bk:b/a', reason: 'not run: what it waits for did not succeed' },
      'replication to bk:b/a: not run: what it waits for did not succeed',
    ],
  ])('%j', (f, text) => expect(failureText(f)).toBe(text));
});

test('a line on stderr names the dataset once', () => {
  expect(failureLine({ kind: 'snapshot', dataset: d, reason: 'busy' })).toBe('tank/a: snapshot failed: busy');
  expect(failureLine({ kind: 'planning', dataset: d, reason: 'tank/a: @x is dated after the clock' })).toBe('tank/a: @x is dated after the clock');
  expect(failureLine({ kind: 'planning', dataset: d, reason: 'the safety interlock refused it' })).toBe('tank/a: the safety interlock refused it');
});

test('replication failures go with their destination in the state file; the rest with the dataset', () => {
  expect(isReplicationFailure({ kind: 'broken', dataset: d, where: 'x', unreachable: true, reason: 'r' })).toBe(true);
  expect(isReplicationFailure({ kind: 'hold', dataset: d, where: 'x', reason: 'r' })).toBe(false);
  expect(recordedError({ kind: 'broken', dataset: d, where: 'bk:b/a', unreachable: true, reason: 'connection refused' })).toBe('connection refused');
  expect(recordedError({ kind: 'replication', dataset: d, where: 'bk:b/a', reason: 'cut' })).toBe('replication to bk:b/a failed: cut');
});
