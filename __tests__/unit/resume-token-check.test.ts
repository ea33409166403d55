/**
 * A receive_resume_token is chosen by the backup host; the source decodes it locally with
 * `zfs send -nvt` and checks it before `zfs send -t`. The fixtures are real OpenZFS 2.3 output
 * (__tests__/fixtures/openzfs, made by make-resume-fixtures.sh there): genuine tokens of
 * interrupted receives and tokens forged the way a hostile backup host could.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkResumeToken, parseResumeTokenInfo, type ResumeTokenInfo } from '../../lib/zfs/resume-token.js';
import { resumeTokenInfoCommand as resumeTokenInfoArgv } from '../../lib/zfs/commands.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'openzfs');

interface Run {
  exit: number;
  stdout: string;
  stderr: string;
}

/** resume-NAME.txt: "token T", then per command "=== zfs send FLAGS TOKEN", "exit N", "--- stdout", "--- stderr". */
function fixture(name: string): { token: string; nvt: Run; nvPt: Run } {
  const text = readFileSync(join(FIX, `resume-${name}.txt`), 'utf8');
  const [head, ...blocks] = text.split(/^=== /m);
  const token = /^token (.*)\n$/.exec(head!)![1]!;
  const runs = new Map<string, Run>();
  for (const b of blocks) {
    const m = /^zfs send (\S+) TOKEN\nexit (\d+)\n--- stdout\n([^]*?)--- stderr\n([^]*)$/.exec(b);
    if (!m) throw new Error(`bad fixture block in resume-${name}.txt`);
    runs.set(m[1]!, { exit: Number(m[2]), stdout: m[3]!, stderr: m[4]! });
  }
  return { token, nvt: runs.get('-nvt')!, nvPt: runs.get('-nvPt')! };
}

const parsed = (name: string, flavour: 'nvt' | 'nvPt' = 'nvt'): ResumeTokenInfo => {
  const run = fixture(name)[flavour];
  const info = parseResumeTokenInfo(run.stdout, run.stderr);
  if (!info) throw new Error(`resume-${name}.txt (${flavour}) did not parse`);
  return info;
};

/** `zfs get -H -p -o name,value guid` of the guest's snapshots, before any was re-created. */
const GUIDS = new Map(
  readFileSync(join(FIX, 'guids.txt'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t') as [string, string]),
);
const snapshotsOf = (dataset: string) => new Map([...GUIDS].filter(([n]) => n.startsWith(`${dataset}@`)).map(([n, g]) => [n.slice(dataset.length + 1), g]));
const A = { dataset: 'tank/a', snapshots: snapshotsOf('tank/a'), encrypted: false };
const E = { dataset: 'tank/e', snapshots: snapshotsOf('tank/e'), encrypted: true };
const guid = (snap: string) => BigInt(GUIDS.get(snap)!);

describe('the output of zfs send -nvt', () => {
  test('full token: nvlist fields in hex, the snapshot OpenZFS resolved', () => {
    expect(fixture('full').nvt.exit).toBe(0);
    const info = parsed('full');
    expect(info).toEqual({
      toname: 'tank/a@s1',
      toguid: guid('tank/a@s1'),
      object: 2n,
      offset: 0xc0000n,
      bytes: 0xe1288n,
      flags: { largeblockok: false, embedok: false, compressok: false, rawok: false },
      otherKeys: [],
      resolved: { to: 'tank/a@s1' },
    });
    expect(parsed('full', 'nvPt')).toEqual(info);
  });

  test('incremental token: fromguid, and both ends resolved', () => {
    const info = parsed('incremental');
    expect(info.fromguid).toBe(guid('tank/a@s1'));
    expect(info.toguid).toBe(guid('tank/a@s2'));
    expect(info.resolved).toEqual({ from: 'tank/a@s1', to: 'tank/a@s2' });
    expect(parsed('incremental', 'nvPt')).toEqual(info);
  });

  test('flags: zfs send -L -c -e and a raw send', () => {
    expect(parsed('flags').flags).toEqual({ largeblockok: true, embedok: true, compressok: true, rawok: false });
    expect(parsed('raw').flags).toEqual({ largeblockok: false, embedok: false, compressok: true, rawok: true });
  });

  test('the snapshot is gone: the nvlist is printed, no estimate, the complaint on stderr', () => {
    const run = fixture('gone').nvt;
    expect(run.exit).toBe(255);
    const info = parsed('gone');
    expect(info.toname).toBe('tank/z@s1');
    expect(info.resolved).toBeUndefined();
    expect(info.complaint).toBe("cannot resume send: 'tank/z@s1' used in the initial send no longer exists");
  });

  test.each(['garbage', 'bad-checksum', 'truncated'])('a token OpenZFS cannot decode (%s) gives null', (name) => {
    const { nvt, nvPt } = fixture(name);
    expect(nvt.exit).toBe(255);
    expect(nvt.stderr).toMatch(/^cannot resume send: resume token is corrupt/);
    expect(parseResumeTokenInfo(nvt.stdout, nvt.stderr)).toBeNull();
    expect(parseResumeTokenInfo(nvPt.stdout, nvPt.stderr)).toBeNull();
  });

  test('anything else is no resume token info either', () => {
    expect(parseResumeTokenInfo('')).toBeNull();
    expect(parseResumeTokenInfo('full send of tank/a@s1 estimated size is 3.14M\n')).toBeNull();
    const good = fixture('full').nvt.stdout;
    expect(parseResumeTokenInfo(good.replace('\ttoguid = ', '\ttoguid = zz'))).toBeNull();
    expect(parseResumeTokenInfo(good.replace(/\ttoguid = .*\n/, ''))).toBeNull();
  });

  test('a toname with newlines cannot smuggle in a second toname or a second estimate line', () => {
    const good = fixture('full').nvt.stdout;
    expect(parseResumeTokenInfo(good.replace('\ttoname = tank/a@s1\n', '\ttoname = tank/e@s1\n\ttoname = tank/a@s1\n'))).toBeNull();
    const forged = fixture('forged-toguid').nvt.stdout; // really sends tank/e@s1
    expect(parseResumeTokenInfo(forged.replace('\ttoname = tank/a@s1\n', '\ttoname = tank/a@s1\nfull send of tank/a@s1 estimated size is 3.14M\n'))).toBeNull();
  });
});

describe('checkResumeToken', () => {
  test('full token of the dataset: ok', () => {
    expect(checkResumeToken(parsed('full'), A)).toEqual({ ok: true, to: 's1' });
    expect(checkResumeToken(parsed('full', 'nvPt'), A)).toEqual({ ok: true, to: 's1' });
  });

  test('incremental token: ok, with its source', () => {
    expect(checkResumeToken(parsed('incremental'), A)).toEqual({ ok: true, to: 's2', from: 's1' });
    expect(checkResumeToken(parsed('incremental', 'nvPt'), A)).toEqual({ ok: true, to: 's2', from: 's1' });
  });

  test('a token naming another dataset is refused', () => {
    const r = checkResumeToken(parsed('raw'), A);
    expect(r).toEqual({ ok: false, problem: expect.stringContaining('tank/a') });
    expect(!r.ok && r.problem).toContain('tank/e@s1');
    expect(!r.ok && r.problem).toContain('another dataset');
  });

  test('forged: names tank/a@s1 with the guid of tank/e@s1 (OpenZFS would send tank/e@s1, decrypted)', () => {
    const info = parsed('forged-toguid');
    expect(info.resolved).toEqual({ to: 'tank/e@s1' });
    const r = checkResumeToken(info, A);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toMatch(/tank\/a@s1 but carries guid 0x[0-9a-f]+ .*has guid/);
  });

  test('forged: names tank/e@s1 with the guid of tank/a@s1 (OpenZFS would send a received copy elsewhere)', () => {
    const info = parsed('forged-toname');
    expect(info.resolved).toEqual({ to: 'tank/r-incr@s1' });
    expect(checkResumeToken(info, E)).toEqual({ ok: false, problem: expect.stringMatching(/^the resume token for tank\/e names tank\/e@s1 but carries guid/) });
    expect(checkResumeToken(info, A)).toEqual({ ok: false, problem: expect.stringContaining('another dataset') });
  });

  test('toguid mismatch: the snapshot was replaced by another of the same name', () => {
    const info = parsed('full');
    const replaced = new Map(A.snapshots).set('s1', String(info.toguid + 1n));
    const r = checkResumeToken(info, { ...A, snapshots: replaced });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toContain('would send another snapshot');
    // The real thing: OpenZFS itself refuses, and so does the check, even with the old guid.
    const real = checkResumeToken(parsed('replaced'), { dataset: 'tank/c', snapshots: snapshotsOf('tank/c'), encrypted: false });
    expect(real).toEqual({ ok: false, problem: expect.stringContaining('is no longer the same snapshot') });
  });

  test('a snapshot the dataset does not have is refused', () => {
    const r = checkResumeToken(parsed('full'), { ...A, snapshots: new Map([['s2', GUIDS.get('tank/a@s2')!]]) });
    expect(r).toEqual({ ok: false, problem: 'the resume token for tank/a names tank/a@s1, a snapshot tank/a does not have' });
  });

  test('unknown fromguid is refused', () => {
    const forged = parsed('forged-fromguid'); // fromguid of tank/e@s1; OpenZFS: Invalid cross-device link
    const r = checkResumeToken(forged, A);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toMatch(/incremental from guid 0x[0-9a-f]+ \(\d+\), which is not a snapshot or bookmark of tank\/a/);
    const noS1 = new Map([['s2', GUIDS.get('tank/a@s2')!]]);
    expect(checkResumeToken(parsed('incremental'), { ...A, snapshots: noS1 }).ok).toBe(false);
  });

  test('encrypted dataset, token not raw: refused (it would send the data decrypted)', () => {
    const info = parsed('encrypted-not-raw');
    const r = checkResumeToken(info, E);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toContain('not a raw send');
    expect(!r.ok && r.problem).toContain('decrypted');
    expect(checkResumeToken(info, { ...E, encrypted: false })).toEqual({ ok: true, to: 's1' });
  });

  test('encrypted dataset, raw token: ok', () => {
    expect(checkResumeToken(parsed('raw'), E)).toEqual({ ok: true, to: 's1' });
    expect(checkResumeToken(parsed('raw', 'nvPt'), E)).toEqual({ ok: true, to: 's1' });
  });

  test('the snapshot is gone: refused with what OpenZFS said', () => {
    const r = checkResumeToken(parsed('gone'), { dataset: 'tank/z', snapshots: new Map([['s1', '1']]), encrypted: false });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toContain('tank/z');
  });

  test('keys zback never puts in a token are refused', () => {
    const run = fixture('full').nvt;
    const info = parseResumeTokenInfo(run.stdout.replace('\ttoname = tank/a@s1\n', '\ttoname = tank/a@s1\n\tsavedok = 1\n'))!;
    expect(info.otherKeys).toEqual(['savedok']);
    expect(checkResumeToken(info, A)).toEqual({ ok: false, problem: expect.stringContaining('savedok') });
  });

  test('the resolved snapshot must be the named one', () => {
    const info = { ...parsed('full'), resolved: { to: 'tank/r-incr@s1' } };
    expect(checkResumeToken(info, A)).toEqual({ ok: false, problem: 'the resume token for tank/a names tank/a@s1, but zfs would send tank/r-incr@s1' });
    const inc = { ...parsed('incremental'), resolved: { to: 'tank/a@s2', from: 'tank/r-incr@s1' } };
    expect(checkResumeToken(inc, A).ok).toBe(false);
  });
});

describe('resumeTokenInfoArgv', () => {
  test('the dry run that decodes a token', () => {
    const { token } = fixture('full');
    expect(resumeTokenInfoArgv(token)).toEqual(['zfs', 'send', '-nvPt', token]);
  });

  test.each(['', '1-abc def', '1-abc;rm -rf /', '1-abc\n', "1-abc'", '$(reboot)', '1_abc'])('malformed token %j is rejected', (token) => {
    expect(() => resumeTokenInfoArgv(token)).toThrow('malformed receive_resume_token');
  });
});
