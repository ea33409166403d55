import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { expandPath, parseSshG, resolveSsh, sshResolveCommand } from '../../lib/transport/ssh-config.js';
import { LocalHost } from '../../lib/transport/local.js';

const HOME = homedir();
const ME = userInfo().username;
let dir: string;
let cfg: string;

/** Run the argv zback would run (`ssh -G …`) and return its output. */
function sshG(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zback-sshcfg-'));
  cfg = join(dir, 'config');
  writeFileSync(join(dir, 'included'), ['Host inc', '  HostName included.example.net', '  Port 2022', ''].join('\n'));
  writeFileSync(
    cfg,
    [
      `Include ${join(dir, 'included')}`,
      'Host backup',
      '  HostName Backup.Example.COM',
      '  User zb',
      '  Port 2222',
      '  IdentityFile ~/.ssh/zback_%h',
      '  IdentityFile /etc/zback/key_%r_%p_%%',
      `  UserKnownHostsFile ~/.ssh/kh_zback ${dir}/kh2`,
      '  StrictHostKeyChecking accept-new',
      '  HostKeyAlias backup-alias',
      '  ConnectTimeout 7',
      '  ServerAliveInterval 15',
      '  ServerAliveCountMax 4',
      'Host strict-yes',
      '  StrictHostKeyChecking yes',
      'Host strict-no',
      '  StrictHostKeyChecking no',
      'Host strict-off',
      '  StrictHostKeyChecking off',
      'Host strict-ask',
      '  StrictHostKeyChecking ask',
      'Host nones',
      '  IdentityFile none',
      '  UserKnownHostsFile none',
      'Host *.lan',
      '  User lanuser',
      '  Port 2200',
      'Host spaced',
      `  IdentityFile "${dir}/my keys/id_%h"`,
      '',
    ].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sshResolveCommand', () => {
  test('alias only', () => {
    expect(sshResolveCommand({ alias: 'backup' })).toEqual(['ssh', '-G', '--', 'backup']);
  });
  test('with -F, -p, -l, then -- and the alias', () => {
    expect(sshResolveCommand({ alias: 'backup', user: 'root', port: 2222 }, '/etc/zback/ssh_config')).toEqual([
      'ssh',
      '-G',
      '-F',
      '/etc/zback/ssh_config',
      '-p',
      '2222',
      '-l',
      'root',
      '--',
      'backup',
    ]);
    expect(sshResolveCommand({ alias: 'backup', port: 22 })).toEqual(['ssh', '-G', '-p', '22', '--', 'backup']);
    expect(sshResolveCommand({ alias: 'backup', user: 'u' })).toEqual(['ssh', '-G', '-l', 'u', '--', 'backup']);
  });
});

describe('parseSshG on real `ssh -G -F file host` output', () => {
  test('HostName, User, Port, IdentityFile (%h, ~, %r, %p, %%), UserKnownHostsFile, accept-new, HostKeyAlias, timeouts', () => {
    const s = parseSshG(sshG(sshResolveCommand({ alias: 'backup' }, cfg)), 'backup');
    expect(s).toEqual({
      alias: 'backup',
      hostname: 'backup.example.com', // ssh -G lowercases it
      user: 'zb',
      port: 2222,
      identityFiles: [`${HOME}/.ssh/zback_backup.example.com`, '/etc/zback/key_zb_2222_%'],
      knownHostsFiles: [`${HOME}/.ssh/kh_zback`, `${dir}/kh2`, '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      userKnownHostsFiles: [`${HOME}/.ssh/kh_zback`, `${dir}/kh2`],
      strict: 'accept-new',
      hostKeyAlias: 'backup-alias',
      connectTimeoutMs: 7000,
      serverAliveIntervalMs: 15000,
      serverAliveCountMax: 4,
    });
  });

  test('-p and -l from the destination override the config', () => {
    const s = parseSshG(sshG(sshResolveCommand({ alias: 'backup', user: 'other', port: 2200 }, cfg)), 'backup');
    expect(s.user).toBe('other');
    expect(s.port).toBe(2200);
    expect(s.identityFiles).toEqual([`${HOME}/.ssh/zback_backup.example.com`, '/etc/zback/key_other_2200_%']);
  });

  test('defaults for a host the config does not mention', () => {
    const s = parseSshG(sshG(sshResolveCommand({ alias: 'plain-host' }, cfg)), 'plain-host');
    expect(s.hostname).toBe('plain-host');
    expect(s.user).toBe(ME);
    expect(s.port).toBe(22);
    expect(s.strict).toBe('yes'); // OpenSSH's default "ask": never accept unattended
    expect(s.userKnownHostsFiles).toEqual([`${HOME}/.ssh/known_hosts`, `${HOME}/.ssh/known_hosts2`]);
    expect(s.knownHostsFiles).toEqual([...s.userKnownHostsFiles, '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
    expect(s.identityFiles).toContain(`${HOME}/.ssh/id_ed25519`);
    expect(s.identityFiles).toContain(`${HOME}/.ssh/id_rsa`);
    expect(s.hostKeyAlias).toBeUndefined();
    expect(s.connectTimeoutMs).toBeUndefined(); // "connecttimeout none"
    expect(s.serverAliveIntervalMs).toBeUndefined(); // "serveraliveinterval 0"
    expect(s.serverAliveCountMax).toBe(3);
  });

  test('Host globs and Include are resolved by OpenSSH', () => {
    const g = parseSshG(sshG(sshResolveCommand({ alias: 'nas.lan' }, cfg)), 'nas.lan');
    expect([g.hostname, g.user, g.port]).toEqual(['nas.lan', 'lanuser', 2200]);
    const i = parseSshG(sshG(sshResolveCommand({ alias: 'inc' }, cfg)), 'inc');
    expect([i.hostname, i.port]).toEqual(['included.example.net', 2022]);
  });

  test('"none" values: no identity files, no user known-hosts files', () => {
    const s = parseSshG(sshG(sshResolveCommand({ alias: 'nones' }, cfg)), 'nones');
    expect(s.identityFiles).toEqual([]);
    expect(s.userKnownHostsFiles).toEqual([]);
    expect(s.knownHostsFiles).toEqual(['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  });

  test.each([
    ['strict-yes', 'yes'], // ssh -G prints "true"
    ['strict-ask', 'yes'],
    ['strict-no', 'accept-new'], // ssh -G prints "false"
    ['strict-off', 'accept-new'],
    ['backup', 'accept-new'],
  ])('StrictHostKeyChecking of %s → %s', (alias, strict) => {
    expect(parseSshG(sshG(sshResolveCommand({ alias }, cfg)), alias).strict).toBe(strict);
  });

  test('the acceptNew flag (--accept-new-host-keys) turns yes/ask into accept-new', () => {
    for (const alias of ['strict-yes', 'strict-ask']) {
      expect(parseSshG(sshG(sshResolveCommand({ alias }, cfg)), alias, true).strict).toBe('accept-new');
    }
  });

  test('an IdentityFile with a space in its path stays one file', () => {
    const s = parseSshG(sshG(sshResolveCommand({ alias: 'spaced' }, cfg)), 'spaced');
    // `ssh -G` prints one "identityfile" line per file, unquoted: a path with a space stays one file.
    expect(s.identityFiles).toEqual([`${dir}/my keys/id_spaced`]);
  });
});

describe('parseSshG on synthetic text', () => {
  test('strict mapping of every spelling', () => {
    const strict = (v: string, accept = false) => parseSshG(`stricthostkeychecking ${v}\n`, 'h', accept).strict;
    expect(['yes', 'true', 'ask', 'YES'].map((v) => strict(v))).toEqual(['yes', 'yes', 'yes', 'yes']);
    expect(['accept-new', 'no', 'off', 'false'].map((v) => strict(v))).toEqual(['accept-new', 'accept-new', 'accept-new', 'accept-new']);
    expect(strict('yes', true)).toBe('accept-new');
    expect(parseSshG('', 'h').strict).toBe('yes'); // absent: OpenSSH's default, ask
  });

  test('defaults when ssh -G says nothing', () => {
    expect(parseSshG('', 'alias-only')).toEqual({
      alias: 'alias-only',
      hostname: 'alias-only',
      user: ME,
      port: 22,
      identityFiles: [],
      knownHostsFiles: [],
      userKnownHostsFiles: [],
      strict: 'yes',
    });
  });

  test('"none", non-numeric and zero values are ignored; keys are case-insensitive', () => {
    const s = parseSshG(
      [
        'HostName h.example',
        'hostkeyalias none',
        'connecttimeout none',
        'serveraliveinterval 0',
        'serveralivecountmax x',
        'identityfile none',
        'userknownhostsfile none',
        'globalknownhostsfile none',
        '',
      ].join('\n'),
      'h',
    );
    expect(s.hostname).toBe('h.example');
    expect(s.hostKeyAlias).toBeUndefined();
    expect(s.connectTimeoutMs).toBeUndefined();
    expect(s.serverAliveIntervalMs).toBeUndefined();
    expect(s.serverAliveCountMax).toBeUndefined();
    expect(s.knownHostsFiles).toEqual([]);
    expect(s.identityFiles).toEqual([]);
  });

  test('the first value of a repeated single-value key wins, every identityfile line counts', () => {
    const s = parseSshG('port 2222\nport 3333\nidentityfile /a\nidentityfile /b\n', 'h');
    expect(s.port).toBe(2222);
    expect(s.identityFiles).toEqual(['/a', '/b']);
  });
});

describe('expandPath', () => {
  const ctx = { hostname: 'backup.example.com', user: 'zb', port: 2222, alias: 'backup' };
  test.each([
    ['~', HOME],
    ['~/.ssh/id', `${HOME}/.ssh/id`],
    ['~other/.ssh/id', '~other/.ssh/id'],
    ['/a~/b', '/a~/b'],
    ['/k/%h', '/k/backup.example.com'],
    ['/k/%n', '/k/backup'],
    ['/k/%r@%h:%p', '/k/zb@backup.example.com:2222'],
    ['/k/%u', `/k/${ME}`],
    ['%d/.ssh/id', `${HOME}/.ssh/id`],
    ['/k/100%%', '/k/100%'],
    ['/k/%%h', '/k/%h'],
    ['/k/%x', '/k/%x'],
  ])('%s → %s', (path, expected) => {
    expect(expandPath(path, ctx)).toBe(expected);
  });
});

describe('resolveSsh through LocalHost', () => {
  test('runs ssh -G and parses it', async () => {
    const s = await resolveSsh(new LocalHost(), { alias: 'backup', port: 2300 }, cfg, false);
    expect([s.hostname, s.user, s.port, s.strict]).toEqual(['backup.example.com', 'zb', 2300, 'accept-new']);
  });
  test('a config file that does not exist → an error naming the alias', async () => {
    await expect(resolveSsh(new LocalHost(), { alias: 'backup' }, join(dir, 'missing'), false)).rejects.toThrow(
      /^cannot read the ssh configuration for backup: /,
    );
  });
});
