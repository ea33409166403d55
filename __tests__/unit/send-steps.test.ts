/**
 * The step planner (lib/plan/send-steps.ts), exhaustively: every series of up to 8 snapshots after
 * the base, each one kept by the destination, not kept, or foreign (3^8 = 6,561 series of 8, 9,841
 * in all), in plain and raw sends. Each plan is replayed on a model of `zfs send` / `zfs receive`:
 *
 * - `-i A B` delivers B alone; `-I A B` every source snapshot after A up to B; a receive needs the
 *   copy's newest snapshot to be A (else ZFS refuses it: "destination has been modified");
 *
 * and the copy must end with exactly the base and every kept or foreign snapshot, in order — nothing
 * the destination's retention would destroy straight away, nothing missing — each step's `delivers`
 * must be what the model delivered, and the argv must be the command the step says it is.
 * (node:assert in the loop: jest's expect costs ~1 ms a call, too much ten thousand times over.)
 */
import { describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { incrementalSteps } from '../../lib/plan/send-steps.js';
import type { SendStep } from '../../lib/plan/types.js';

type Kind = 'kept' | 'dropped' | 'foreign';
const KINDS: readonly Kind[] = ['kept', 'dropped', 'foreign'];
const RECV = ['zfs', 'receive', '-u', 'bpool/copy'];

function* series(maxLength: number): Generator<Kind[]> {
  for (let n = 0; n <= maxLength; n++) {
    for (let code = 0; code < 3 ** n; code++) {
      const kinds: Kind[] = [];
      for (let i = 0, c = code; i < n; i++, c = Math.floor(c / 3)) kinds.push(KINDS[c % 3]!);
      yield kinds;
    }
  }
}

/** The copy after replaying the steps; throws where ZFS would refuse a receive. */
function replay(source: readonly string[], steps: readonly SendStep[]): { copy: string[]; delivered: string[][] } {
  const copy = [source[0]!];
  const delivered: string[][] = [];
  for (const step of steps) {
    const newest = copy[copy.length - 1]!;
    if (step.from !== newest) throw new Error(`receive refused: the copy's newest is ${newest}, the stream is from ${step.from}`);
    const from = source.indexOf(step.from);
    const to = source.indexOf(step.to);
    if (from < 0 || to <= from) throw new Error(`no such stream: ${step.from} → ${step.to}`);
    const intermediates = step.sendArgv.includes('-I');
    const got = intermediates ? source.slice(from + 1, to + 1) : [step.to];
    copy.push(...got);
    delivered.push(got);
  }
  return { copy, delivered };
}

function check(kinds: readonly Kind[], raw: boolean): void {
  const names = kinds.map((k, i) => `${k === 'foreign' ? 'f' : 's'}${i + 1}`);
  const source = ['base', ...names];
  const kindOf = new Map(names.map((n, i) => [n, kinds[i]!]));
  const steps = incrementalSteps(
    'tank/d',
    'base',
    names.map((name) => ({ name })),
    (s) => kindOf.get(s.name) !== 'dropped',
    RECV,
    raw ? ['-w'] : [],
  );
  const { copy, delivered } = replay(source, steps);
  // Exactly what was meant: the base, then every kept or foreign snapshot up to the last kept one.
  const wanted = names.filter((n) => kindOf.get(n) !== 'dropped');
  assert.deepStrictEqual(copy, ['base', ...wanted]);
  steps.forEach((step, i) => {
    assert.deepStrictEqual(step.delivers, delivered[i]);
    assert.strictEqual(step.recvArgv, RECV);
    assert.strictEqual(step.kind, 'incremental');
    const flag = step.delivers.length > 1 ? '-I' : '-i';
    assert.deepStrictEqual(step.sendArgv, ['zfs', 'send', ...(raw ? ['-w'] : []), flag, `tank/d@${step.from}`, `tank/d@${step.to}`]);
  });
  // No step is wasted, and there are as few as `zfs send` allows: a run of kept snapshots right
  // after the base is one -I; a run after a dropped snapshot needs a jump (-i onto its first) and,
  // if it has more, one -I for the rest.
  assert.ok(
    steps.every((s) => s.delivers.length > 0),
    'a step that delivers nothing',
  );
  let fewest = 0;
  kinds.forEach((k, i) => {
    if (k === 'dropped') return;
    const startsRun = i === 0 || kinds[i - 1] === 'dropped';
    const afterGap = kinds.slice(0, i).includes('dropped');
    if (startsRun) fewest += afterGap && i + 1 < kinds.length && kinds[i + 1] !== 'dropped' ? 2 : 1;
  });
  assert.strictEqual(steps.length, fewest, `${steps.length} steps where ${fewest} would do`);
}

describe('incrementalSteps on every series of up to 8 snapshots', () => {
  test('plain sends: 9,841 series replayed on the model', () => {
    let count = 0;
    for (const kinds of series(8)) {
      try {
        check(kinds, false);
      } catch (e) {
        throw new Error(`series [${kinds.join(', ')}]: ${(e as Error).message}`);
      }
      count++;
    }
    expect(count).toBe((3 ** 9 - 1) / 2);
  });

  test('raw sends (encrypted datasets): the same steps, each with -w', () => {
    for (const kinds of series(6)) check(kinds, true);
  });

  test('the worked examples of the module header', () => {
    const plan = (pattern: string) =>
      incrementalSteps(
        'p/a',
        'B',
        pattern.split(' ').map((name) => ({ name })),
        (s) => !s.name.startsWith('x'),
        RECV,
        [],
      )
        .map((s) => `${s.sendArgv.includes('-I') ? '-I' : '-i'} ${s.from}→${s.to}`)
        .join(', ');
    expect(plan('K1 K2 K3')).toBe('-I B→K3');
    expect(plan('x1 x2 K3')).toBe('-i B→K3');
    expect(plan('K1 K2 x3 K4')).toBe('-I B→K2, -i K2→K4');
    expect(plan('K1 x2 K3 K4 K5')).toBe('-i B→K1, -i K1→K3, -I K3→K5');
    expect(plan('F1 K2')).toBe('-I B→K2');
    expect(plan('K1 x2')).toBe('-i B→K1');
    expect(plan('x1')).toBe('');
  });
});
