import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseSinkCommand, readQuotedWords, SinkRefusal } from '../../lib/sink/command-line.js';
import { helloLine, parseHello, sinkAccepts } from '../../lib/sink/hello.js';
import { allow, Refused, tooYoung, visibleDatasets, type SinkOptions } from '../../lib/sink/rules.js';
import { TARGET_HOLD_TAG } from '../../lib/plan/replication.js';
import { capabilitiesFor, LEGACY_CAPABILITIES } from '../../lib/zfs/capabilities.js';
import * as cmd from '../../lib/zfs/commands.js';
import { spawn } from 'node:child_process';
import { killOwn } from '../../lib/sink/sink.js';
import { killCommand, shellCommand, withPidReport } from '../../lib/transport/quote.js';

const OZ = capabilitiesFor('2.3.2');
const SINK: SinkOptions = { roots: ['bpool/off/web1'], keepDays: 0, appendOnly: false, allowRestore: true };
const T = 'bpool/off/web1/data';
const M = 'ZBACK_PID_0123456789ab';

describe('the command line: only what the transport sends', () => {
  test('a zfs argv round-trips through the PID report, whatever its words (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ minLength: 0, maxLength: 12 }).filter((s) => !s.includes('\0')),
          { minLength: 1, maxLength: 6 },
        ),
        (words) => {
          const argv = ['zfs', ...words];
          expect(parseSinkCommand(withPidReport(M, argv))).toEqual({ kind: 'zfs', argv, marker: M });
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('the kill of a reported PID', () => {
    expect(parseSinkCommand(killCommand(4242))).toEqual({ kind: 'kill', pid: 4242 });
  });

  test.each([
    ['no command (interactive login)', ''],
    ['a shell', 'sh -c id'],
    ['a bare zfs command', 'zfs list'],
    ['a second command after the zfs one', `${withPidReport(M, ['zfs', 'version'])}; id`],
    ['a pipeline', `${withPidReport(M, ['zfs', 'version'])} | sh`],
    ['other quoting of the same words', `echo "${M} $$" >&2; exec 'zfs' version`],
    ['double quotes', `echo "${M} $$" >&2; exec zfs "version"`],
    ['command substitution', `echo "${M} $$" >&2; exec zfs $(id)`],
    ['a newline', `echo "${M} $$" >&2; exec zfs version\nid`],
    ['a marker of another shape', `echo "ZBACK_PID_xyz $$" >&2; exec zfs version`],
    ['a kill of two PIDs', 'kill -TERM -- -1 2 2>/dev/null || kill -TERM 1 2>/dev/null'],
    ['a kill whose two halves differ', 'kill -TERM -- -5 2>/dev/null || kill -TERM 6 2>/dev/null'],
  ])('refused: %s', (_what, line) => {
    expect(() => parseSinkCommand(line)).toThrow(SinkRefusal);
  });

  test('reading quoted words', () => {
    expect(readQuotedWords(`zfs set 'a b' 'it'\\''s'`)).toEqual(['zfs', 'set', 'a b', "it's"]);
    expect(() => readQuotedWords(`zfs 'open`)).toThrow(SinkRefusal);
  });
});

describe('the argv shapes: every command zback sends to a destination is allowed', () => {
  const sent: Array<[string, string[]]> = [
    ['version', cmd.versionCommand()],
    ['dataset list', cmd.listDatasetsCommand()],
    ['inventory (legacy)', cmd.inventoryCommand([T], LEGACY_CAPABILITIES)],
    ['inventory (OpenZFS)', cmd.inventoryCommand([T, `${T}/child`], OZ)],
    ['inventory with creation', cmd.inventoryCommand([T], OZ, true)],
    ['a parent', cmd.createParentCommand('bpool/off/web1/home')],
    ['receive (legacy)', cmd.receiveCommand(T, LEGACY_CAPABILITIES)],
    ['receive (resumable)', cmd.receiveCommand(T, OZ)],
    [
      'a seed that marks its copy',
      cmd.receiveCommand(T, OZ, [
        ['org.wit:replica-of', 'web1:tank/data'],
        ['canmount', 'noauto'],
        ['org.wit:replica-retention', '24h30d'],
      ]),
    ],
    ['discard a partial receive', cmd.receiveAbortCommand(T)],
    ['hold', cmd.holdCommand(TARGET_HOLD_TAG, T, 'daily-1')],
    ['release', cmd.releaseCommand(TARGET_HOLD_TAG, T, 'daily-1')],
    ['destroy one', cmd.destroyCommands(T, ['a'], LEGACY_CAPABILITIES)[0]!],
    ['destroy a batch', cmd.destroyCommands(T, ['a', 'b', 'c'], OZ)[0]!],
    ['replica-of', cmd.setPropertyCommand(T, 'org.wit:replica-of', 'web1:tank/data')],
    ['replica-retention', cmd.setPropertyCommand(T, 'org.wit:replica-retention', '24h30d')],
    ['replica-schedule', cmd.setPropertyCommand(T, 'org.wit:replica-schedule', '0_*/4_*_*_1-5@Europe/Berlin')],
    ['canmount', cmd.setPropertyCommand(T, 'canmount', 'noauto')],
    ["the features of the root's pool", cmd.poolFeaturesCommand([T.split('/')[0]!])],
    ['restore: a snapshot sent back', cmd.sendFullCommand(T, 'daily-1')],
    ['restore: raw', cmd.sendFullCommand(`${T}/child`, 'daily-1', ['-w'])],
    ['restore: large blocks, embedded, compressed', cmd.sendFullCommand(T, 'daily-1', ['-L', '-e', '-c'])],
    ['restore: its size', cmd.sendEstimateCommand(cmd.sendFullCommand(T, 'daily-1', ['-L', '-e', '-c']))],
  ];
  test.each(sent)('%s', (_what, argv) => {
    expect(allow(parseSinkCommandArgv(argv), SINK).argv).toEqual(argv);
  });
});

function parseSinkCommandArgv(argv: string[]): string[] {
  const r = parseSinkCommand(withPidReport(M, argv));
  if (r.kind !== 'zfs') throw new Error('not zfs');
  return r.argv;
}

describe('refusals name what is wrong', () => {
  test.each<[string, string[], RegExp]>([
    ['a shell', ['sh', '-c', 'id'], /only zfs runs here/],
    ['destroy -r', ['zfs', 'destroy', '-r', `${T}@a`], /never allowed/],
    ['destroy of a filesystem', ['zfs', 'destroy', T], /only snapshots/],
    ['destroy of another root’s snapshot', ['zfs', 'destroy', 'bpool/off/web2/data@a'], /outside this sink's root/],
    ['destroy of a root that only shares a prefix', ['zfs', 'destroy', 'bpool/off/web10/data@a'], /outside/],
    ['recv -F', ['zfs', 'receive', '-u', '-F', T], /-F/],
    ['recv -uF', ['zfs', 'receive', '-uF', T], /-F/],
    ['a receive outside the root', ['zfs', 'receive', '-u', 'bpool/elsewhere'], /outside/],
    ['rollback', ['zfs', 'rollback', '-r', `${T}@a`], /rollback is never allowed/],
    ['a foreign hold tag', ['zfs', 'hold', 'keep', `${T}@a`], /zback's own hold tag/],
    ['release -r', ['zfs', 'release', '-r', TARGET_HOLD_TAG, `${T}@a`], /not a command zback sends/],
    ['setting mountpoint', ['zfs', 'set', 'mountpoint=/', T], /not something zback does/],
    ['a forged line in a mark', ['zfs', 'set', 'org.wit:replica-retention=1h\nbpool/off/web2\torg.wit:replica-retention\t1h', T], /printable text/],
    ['a mark that is no retention', ['zfs', 'set', 'org.wit:replica-retention=forever', T], /not a retention/],
    ['a schedule mark that is no schedule', ['zfs', 'set', 'org.wit:replica-schedule=sometimes@UTC', T], /not a schedule mark/],
    ['a schedule mark in no zone', ['zfs', 'set', 'org.wit:replica-schedule=hourly@Mars/Olympus', T], /not a schedule mark/],
    ['a schedule mark with a space', ['zfs', 'set', 'org.wit:replica-schedule=0 * * * *@UTC', T], /printable text/],
    ['creating the root itself', ['zfs', 'create', '-o', 'canmount=off', 'bpool/off/web1'], /administrator creates it/],
    ['create -p', ['zfs', 'create', '-p', `${T}/x`], /not a command zback sends/],
    ['reading another root', ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', '-r', 'guid', 'bpool'], /outside/],
    ['reading a user property', ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', '-r', 'guid,org.x:secret', T], /org.x:secret/],
    ['zfs send of a filesystem', ['zfs', 'send', T], /only snapshots/],
    ['zfs send outside the root', ['zfs', 'send', 'bpool/off/web2/data@a'], /outside this sink's root/],
    ['zfs send of two snapshots', ['zfs', 'send', `${T}@a,b`], /one snapshot in zfs send/],
    ['zfs send -R (every child, with properties)', ['zfs', 'send', '-R', `${T}@a`], /not a command zback sends/],
    ['zfs send -p', ['zfs', 'send', '-p', `${T}@a`], /not a command zback sends/],
    ['an incremental send', ['zfs', 'send', '-i', `${T}@a`, `${T}@b`], /not a command zback sends/],
    ['a send from a resume token', ['zfs', 'send', '-t', '1-abc'], /not a command zback sends/],
    ['a stream option twice', ['zfs', 'send', '-w', '-w', `${T}@a`], /not a command zback sends/],
    ['a send to a file', ['zfs', 'send', `${T}@a`, '>', '/etc/passwd'], /not a command zback sends/],
    ['a name ZFS would refuse', ['zfs', 'receive', '-u', 'bpool/off/web1/a\nb'], /not a dataset name/],
    ['a receive that sets mountpoint', ['zfs', 'receive', '-u', '-s', '-o', 'mountpoint=/', T], /not something zback does/],
    ['a receive that forges a mark', ['zfs', 'receive', '-u', '-o', 'org.wit:replica-retention=1h\nx', T], /printable text/],
    ['a receive with -o and -F', ['zfs', 'receive', '-u', '-o', '-F', T], /-F/],
    ['a receive with -o and then another option', ['zfs', 'receive', '-u', '-o', 'canmount=noauto', '-x', 'mountpoint', T], /not a command zback sends/],
    ['a receive that marks the root itself', ['zfs', 'receive', '-u', '-o', 'canmount=noauto', 'bpool/off/web1'], /this sink's root/],
  ])('%s', (_what, argv, message) => {
    expect(() => allow(argv, SINK)).toThrow(Refused);
    expect(() => allow(argv, SINK)).toThrow(message);
  });

  test('append-only: every destroy, release and hold is refused (a hold would only keep zback prune from pruning); receives are not', () => {
    const o = { ...SINK, appendOnly: true };
    expect(() => allow(['zfs', 'destroy', `${T}@a`], o)).toThrow(/append-only/);
    expect(() => allow(['zfs', 'release', TARGET_HOLD_TAG, `${T}@a`], o)).toThrow(/append-only/);
    expect(() => allow(cmd.holdCommand(TARGET_HOLD_TAG, T, 'a'), o)).toThrow(/append-only: zback places no holds/);
    expect(allow(cmd.receiveCommand(T, OZ), o).op).toBe('receive');
  });

  test('restore is the administrator’s choice: without --allow-restore the sink is write-only', () => {
    const writeOnly = { ...SINK, allowRestore: false };
    expect(() => allow(cmd.sendFullCommand(T, 'daily-1'), writeOnly)).toThrow(/does not send copies back \(zback restore needs zback sink --allow-restore/);
    expect(() => allow(cmd.sendEstimateCommand(cmd.sendFullCommand(T, 'daily-1')), { roots: SINK.roots, keepDays: 0, appendOnly: false })).toThrow(Refused);
  });

  test('marks are set only on copies below a root, never on the root itself', () => {
    expect(() => allow(cmd.setPropertyCommand('bpool/off/web1', 'canmount', 'off'), SINK)).toThrow(/this sink's root/);
  });

  test('a destroy names the snapshots whose age the sink checks', () => {
    expect(allow(['zfs', 'destroy', `${T}@a,b`], SINK)).toEqual({ op: 'destroy', argv: ['zfs', 'destroy', `${T}@a,b`], snapshots: [`${T}@a`, `${T}@b`] });
  });
});

describe('what the source may see and the floor', () => {
  test('the dataset list shows the roots, what is below and their ancestors only', () => {
    const all = ['bpool', 'bpool/off', 'bpool/off/web1', 'bpool/off/web1/data', 'bpool/off/web2', 'bpool/off/web10', 'bpool/secret', 'other'];
    expect(visibleDatasets(all, ['bpool/off/web1'])).toEqual(['bpool', 'bpool/off', 'bpool/off/web1', 'bpool/off/web1/data']);
  });

  test('snapshots younger than the floor, by creation; unreadable ones are reported', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    const day = 86_400;
    const rows = [`${T}@old\t${now / 1000 - 8 * day}`, `${T}@new\t${now / 1000 - 2 * day}`].join('\n');
    expect(tooYoung(rows, [`${T}@old`, `${T}@new`], 7, now)).toEqual([`${T}@new`]);
    expect(tooYoung(rows, [`${T}@old`], 7, now)).toEqual([]);
    expect(tooYoung(rows, [`${T}@gone`], 7, now)).toEqual({ unreadable: [`${T}@gone`] });
  });

  test('the hello line round-trips; a host that is not a sink says nothing', () => {
    const info = { roots: ['bpool/off/web1'], appendOnly: true, keepDays: 7 };
    expect(parseHello(`zfs-2.3.2\n${helloLine(info)}`)).toEqual({ ...info, accepts: ['schedule-mark'] });
    expect(parseHello(helloLine({ ...info, accepts: sinkAccepts(true) }))).toEqual({ ...info, accepts: ['schedule-mark', 'restore'] });
    // A sink from before `accepts` (version 1's line): it accepts nothing more.
    expect(parseHello('ZBACK_SINK {"v":1,"roots":["bpool/off/web1"],"appendOnly":false,"keepDays":0}')).toEqual({
      roots: ['bpool/off/web1'],
      appendOnly: false,
      keepDays: 0,
      accepts: [],
    });
    expect(parseHello('unrecognized command')).toBeNull();
    expect(parseHello('ZBACK_SINK {broken')).toBeNull();
    // A host's roots that are no dataset names (escape sequences, say) are dropped.
    expect(parseHello('ZBACK_SINK {"roots":["bpool/ok","\\u001b[2Jx"],"appendOnly":false,"keepDays":0}')!.roots).toEqual(['bpool/ok']);
  });

  test('quoting of a refused command for the log keeps it on one line', () => {
    expect(shellCommand(['zfs', 'a\nb'])).toBe("zfs 'a\nb'");
  });
});

describe('zpool: only the reading of pool features, only of the pools of the roots', () => {
  const pool = T.split('/')[0]!;
  test.each<[string, string[], RegExp]>([
    ['another pool', cmd.poolFeaturesCommand([pool, 'secret']), /"secret" is not the pool of this sink's root/],
    ['every pool', cmd.poolFeaturesCommand([pool]).slice(0, -1), /only zback's own reading of pool features/],
    ['other properties', ['zpool', 'get', '-H', '-o', 'name,property,value', 'all', pool], /only zback's own reading of pool features/],
    ['zpool destroy', ['zpool', 'destroy', pool], /only zback's own reading of pool features/],
    ['zpool export', ['zpool', 'export', pool], /only zback's own reading of pool features/],
  ])('%s is refused', (_what, argv, why) => {
    expect(() => allow(argv, SINK)).toThrow(why);
  });
});

describe('killOwn: the sink stops only its own running commands', () => {
  const SELF = 'node\0/usr/bin/zback\0sink\0--root\0bpool/from-fs1\0';
  const fake = (table: Record<string, string | null>) => (p: number | 'self') => (p === 'self' ? SELF : (table[String(p)] ?? null));
  const kills: Array<[number, string]> = [];
  const kill = (pid: number, signal: string) => void kills.push([pid, signal]);

  test('a process with exactly this sink’s command line gets SIGTERM; anything else is foreign, a missing or exiting one gone', () => {
    kills.length = 0;
    expect(killOwn(4242, fake({ 4242: SELF }), kill)).toBe('stopped');
    expect(kills).toEqual([[4242, 'SIGTERM']]);
    // Another sink's (another --root), sshd, a shell: foreign, and never signalled.
    expect(killOwn(4243, fake({ 4243: SELF.replace('fs1', 'fs2') }), kill)).toBe('foreign');
    expect(killOwn(4244, fake({ 4244: 'sshd: zsink@notty\0' }), kill)).toBe('foreign');
    // Itself: foreign (a sink never stops itself on request).
    expect(killOwn(process.pid, fake({ [process.pid]: SELF }), kill)).toBe('foreign');
    // Not there, or exiting (a zombie's command line is empty): gone.
    expect(killOwn(4245, fake({}), kill)).toBe('gone');
    expect(killOwn(4246, fake({ 4246: '' }), kill)).toBe('gone');
    expect(kills).toEqual([[4242, 'SIGTERM']]);
    // It exited between the check and the signal: gone.
    expect(
      killOwn(4242, fake({ 4242: SELF }), () => {
        throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
      }),
    ).toBe('gone');
  });

  test('with the real /proc: a running process of another command is foreign, a finished one gone', async () => {
    const child = spawn('sleep', ['30']);
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(killOwn(child.pid!)).toBe('foreign');
    } finally {
      child.kill();
    }
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 100));
    expect(killOwn(child.pid!)).toBe('gone');
  });
});
