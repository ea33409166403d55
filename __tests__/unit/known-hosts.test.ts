import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addHostKey, checkHostKey, fingerprint, keyTypeOf, knownHostsName } from '../../lib/transport/known-hosts.js';

let dir: string;
/** A real ed25519 key made by ssh-keygen, a second one, and a real ecdsa key. */
let ed: { blob: Buffer; b64: string; pub: string };
let ed2: { blob: Buffer; b64: string };
let ecdsa: { blob: Buffer; b64: string };

function keygen(type: string, name: string): { blob: Buffer; b64: string; pub: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'test@zback', '-f', file], { stdio: 'ignore' });
  const line = readFileSync(`${file}.pub`, 'utf8').trim();
  const b64 = line.split(/\s+/)[1]!;
  return { blob: Buffer.from(b64, 'base64'), b64, pub: `${file}.pub` };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zback-kh-'));
  ed = keygen('ed25519', 'ed');
  ed2 = keygen('ed25519', 'ed2');
  ecdsa = keygen('ecdsa', 'ec');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A known_hosts file with these lines. */
function kh(...lines: string[]): string {
  const file = join(dir, `known_hosts.${n++}`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
/** OpenSSH's hashed host field for a name (what `ssh-keygen -H` writes). */
function hashed(name: string, salt = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('keyTypeOf / fingerprint', () => {
  test('the key type is read from the blob', () => {
    expect(keyTypeOf(ed.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(ecdsa.blob)).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(Buffer.alloc(0))).toBe('');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBe('');
  });

  test('fingerprint equals what ssh-keygen -lf prints', () => {
    for (const [k, pub] of [
      [ed.blob, ed.pub],
      [ecdsa.blob, join(dir, 'ec.pub')],
    ] as const) {
      const out = execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' });
      // "256 SHA256:abc… test@zback (ED25519)"
      expect(fingerprint(k)).toBe(out.split(' ')[1]);
      expect(fingerprint(k)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    }
  });
});

describe('knownHostsName', () => {
  test('port 22 is the plain name, any other port is [host]:port', () => {
    expect(knownHostsName('backup.example.com', 22)).toBe('backup.example.com');
    expect(knownHostsName('backup.example.com', 2222)).toBe('[backup.example.com]:2222');
    expect(knownHostsName('10.0.0.7', 2200)).toBe('[10.0.0.7]:2200');
  });
});

describe('checkHostKey', () => {
  test('plain entry with the key → known, with its type', () => {
    const f = kh(`backup ${'ssh-ed25519'} ${ed.b64}`);
    expect(checkHostKey([f], 'backup', ed.blob)).toEqual({ status: 'known', knownTypes: ['ssh-ed25519'] });
  });

  test('comments, blank lines, CRLF and a trailing comment field are fine', () => {
    const f = kh('# my hosts', '', `backup ssh-ed25519 ${ed.b64} root@backup\r`, '   ');
    expect(checkHostKey([f], 'backup', ed.blob).status).toBe('known');
  });

  test('hashed entries (|1|salt|hmac-sha1)', () => {
    const f = kh(`${hashed('backup.example.com')} ssh-ed25519 ${ed.b64}`, `${hashed('[other]:2222')} ssh-ed25519 ${ed2.b64}`);
    expect(checkHostKey([f], 'backup.example.com', ed.blob).status).toBe('known');
    expect(checkHostKey([f], knownHostsName('other', 2222), ed2.blob).status).toBe('known');
    expect(checkHostKey([f], 'other', ed2.blob).status).toBe('unknown');
    expect(checkHostKey([f], 'backup', ed.blob).status).toBe('unknown');
    expect(checkHostKey([f], 'backup.example.com', ed2.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'], conflict: `${f}:1` });
  });

  test('hashed entries made by ssh-keygen -H itself', () => {
    const f = kh(`backup.example.com ssh-ed25519 ${ed.b64}`, `[backup.example.com]:2222 ecdsa-sha2-nistp256 ${ecdsa.b64}`);
    execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
    expect(readFileSync(f, 'utf8')).not.toContain('backup.example.com');
    expect(checkHostKey([f], 'backup.example.com', ed.blob)).toEqual({ status: 'known', knownTypes: ['ssh-ed25519'] });
    expect(checkHostKey([f], knownHostsName('backup.example.com', 2222), ecdsa.blob)).toEqual({ status: 'known', knownTypes: ['ecdsa-sha2-nistp256'] });
  });

  test('[host]:port entries are not the port-22 name, and the reverse', () => {
    const f = kh(`[backup]:2222 ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([f], knownHostsName('backup', 2222), ed.blob).status).toBe('known');
    expect(checkHostKey([f], knownHostsName('backup', 22), ed.blob).status).toBe('unknown');
    expect(checkHostKey([f], knownHostsName('backup', 2200), ed.blob).status).toBe('unknown');
    const g = kh(`backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([g], knownHostsName('backup', 2222), ed.blob).status).toBe('unknown');
  });

  test('comma lists (names and addresses)', () => {
    const f = kh(`backup,backup.example.com,192.0.2.7 ssh-ed25519 ${ed.b64}`);
    for (const name of ['backup', 'backup.example.com', '192.0.2.7']) expect(checkHostKey([f], name, ed.blob).status).toBe('known');
    expect(checkHostKey([f], 'backup2', ed.blob).status).toBe('unknown');
  });

  test('wildcards * and ?, case-insensitive, dots are literal', () => {
    const f = kh(`*.example.com ssh-ed25519 ${ed.b64}`, `host? ssh-ed25519 ${ed2.b64}`, `a.b ssh-ed25519 ${ecdsa.b64}`);
    expect(checkHostKey([f], 'b.example.com', ed.blob).status).toBe('known');
    expect(checkHostKey([f], 'deep.b.example.com', ed.blob).status).toBe('known');
    expect(checkHostKey([f], 'B.EXAMPLE.COM', ed.blob).status).toBe('known');
    expect(checkHostKey([f], 'example.com', ed.blob).status).toBe('unknown');
    expect(checkHostKey([f], 'b.exampleXcom', ed.blob).status).toBe('unknown');
    expect(checkHostKey([f], 'host1', ed2.blob).status).toBe('known');
    expect(checkHostKey([f], 'host', ed2.blob).status).toBe('unknown');
    expect(checkHostKey([f], 'host12', ed2.blob).status).toBe('unknown');
    expect(checkHostKey([f], 'aXb', ecdsa.blob).status).toBe('unknown');
    const p = kh(`[*.example.com]:2222 ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([p], knownHostsName('b.example.com', 2222), ed.blob).status).toBe('known');
    expect(checkHostKey([p], 'b.example.com', ed.blob).status).toBe('unknown');
  });

  test('negation: a matching !pattern rules the line out, whatever its position', () => {
    const f = kh(`*.example.com,!bad.example.com ssh-ed25519 ${ed.b64}`, `!evil.example.com,*.example.com ssh-ed25519 ${ed2.b64}`);
    expect(checkHostKey([f], 'good.example.com', ed.blob).status).toBe('known');
    expect(checkHostKey([f], 'bad.example.com', ed.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'], conflict: `${f}:2` });
    expect(checkHostKey([f], 'evil.example.com', ed2.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'], conflict: `${f}:1` });
    const only = kh(`!bad ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([only], 'good', ed.blob).status).toBe('unknown');
  });

  test('@revoked: the key is refused even if another line knows it; a revoked other key does not matter', () => {
    const f = kh(`backup ssh-ed25519 ${ed.b64}`, `@revoked backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([f], 'backup', ed.blob)).toEqual({ status: 'revoked', knownTypes: [], conflict: `${f}:2` });
    const g = kh(`@revoked * ssh-ed25519 ${ed2.b64}`, `backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([g], 'backup', ed.blob).status).toBe('known');
    expect(checkHostKey([g], 'backup', ed2.blob).status).toBe('revoked');
  });

  test('@cert-authority lines are ignored (neither known nor a conflict)', () => {
    const f = kh(`@cert-authority *.example.com ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([f], 'b.example.com', ed.blob)).toEqual({ status: 'unknown', knownTypes: [] });
    const g = kh(`@cert-authority *.example.com ssh-ed25519 ${ed2.b64}`, `b.example.com ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([g], 'b.example.com', ed.blob)).toEqual({ status: 'known', knownTypes: ['ssh-ed25519'] });
  });

  test('changed key of the same type → changed, with file:line of the conflicting entry', () => {
    const f = kh('# header', `other ssh-ed25519 ${ed.b64}`, '', `backup ssh-ed25519 ${ed2.b64}`);
    expect(checkHostKey([f], 'backup', ed.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'], conflict: `${f}:4` });
  });

  test('only a key of another type is known → changed, without a same-type conflict', () => {
    const f = kh(`backup ecdsa-sha2-nistp256 ${ecdsa.b64}`);
    const r = checkHostKey([f], 'backup', ed.blob);
    expect(r.status).toBe('changed');
    expect(r.knownTypes).toEqual(['ecdsa-sha2-nistp256']);
    expect(r.conflict).toBeUndefined();
  });

  test('several types known and one matches → known, every type listed', () => {
    const f = kh(`backup ecdsa-sha2-nistp256 ${ecdsa.b64}`, `backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([f], 'backup', ed.blob)).toEqual({ status: 'known', knownTypes: ['ecdsa-sha2-nistp256', 'ssh-ed25519'] });
  });

  test('unknown host', () => {
    const f = kh(`other ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([f], 'backup', ed.blob)).toEqual({ status: 'unknown', knownTypes: [] });
    expect(checkHostKey([], 'backup', ed.blob)).toEqual({ status: 'unknown', knownTypes: [] });
  });

  test('several files: missing ones are skipped, any file can know the key, conflicts name their file', () => {
    const missing = join(dir, 'does-not-exist');
    const a = kh(`other ssh-ed25519 ${ed2.b64}`);
    const b = kh('# global', `backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([missing, a, b], 'backup', ed.blob)).toEqual({ status: 'known', knownTypes: ['ssh-ed25519'] });
    const c = kh('#', '#', `backup ssh-ed25519 ${ed2.b64}`);
    expect(checkHostKey([missing, a, c], 'backup', ed.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'], conflict: `${c}:3` });
    // A known key in one file wins over an old key in another (OpenSSH accepts any matching line).
    expect(checkHostKey([c, b], 'backup', ed.blob).status).toBe('known');
    // A revocation in any file wins.
    const r = kh(`@revoked backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([b, r], 'backup', ed.blob).status).toBe('revoked');
  });

  test('malformed lines are skipped', () => {
    const f = kh('backup', 'backup ssh-ed25519', `|1|bad backup ssh-ed25519 ${ed.b64}`, `backup ssh-ed25519 ${ed.b64}`);
    expect(checkHostKey([f], 'backup', ed.blob).status).toBe('known');
  });
});

describe('addHostKey', () => {
  test('appends a line that checkHostKey then accepts; creates the directory (0700) and file (0600)', () => {
    const file = join(dir, 'new', 'ssh', 'known_hosts');
    addHostKey(file, knownHostsName('backup', 2222), ed.blob);
    expect(readFileSync(file, 'utf8')).toBe(`[backup]:2222 ssh-ed25519 ${ed.b64}\n`);
    expect(statSync(join(dir, 'new', 'ssh')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(checkHostKey([file], '[backup]:2222', ed.blob)).toEqual({ status: 'known', knownTypes: ['ssh-ed25519'] });
    addHostKey(file, 'backup', ecdsa.blob);
    expect(checkHostKey([file], 'backup', ecdsa.blob)).toEqual({ status: 'known', knownTypes: ['ecdsa-sha2-nistp256'] });
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(3);
  });

  test('ssh-keygen -F finds the added entry (the line is in OpenSSH format)', () => {
    const file = join(dir, 'kh-added');
    addHostKey(file, 'backup.example.com', ed.blob);
    const out = execFileSync('ssh-keygen', ['-F', 'backup.example.com', '-f', file], { encoding: 'utf8' });
    expect(out).toContain(`backup.example.com ssh-ed25519 ${ed.b64}`);
  });

  test('a file whose last line has no newline: the existing entry and the new one both stay intact', () => {
    const file = join(dir, 'kh-no-newline');
    writeFileSync(file, `other ssh-ed25519 ${ed2.b64}`); // hand-edited, no final newline
    addHostKey(file, 'backup', ed.blob);
    // Like OpenSSH, an unterminated last line is ended before the new entry is appended.
    expect(checkHostKey([file], 'backup', ed.blob).status).toBe('known');
    expect(checkHostKey([file], 'other', ed2.blob).status).toBe('known');
  });
});
