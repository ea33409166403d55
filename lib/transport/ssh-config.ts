/**
 * How to reach a destination host, as the operator's OpenSSH client configuration says: zback
 * asks `ssh -G` (OpenSSH's own resolver, so Include, Match, Host globs and defaults behave
 * exactly as for `ssh`) and reads HostName, User, Port, IdentityFile, UserKnownHostsFile,
 * GlobalKnownHostsFile, StrictHostKeyChecking, HostKeyAlias and ConnectTimeout from it.
 */
import { homedir, userInfo } from 'node:os';
import type { Host } from './host.js';

export interface SshTarget {
  /** What the destination property says: alias or host name. */
  alias: string;
  user?: string;
  port?: number;
}

export type StrictMode = 'yes' | 'accept-new';

export interface SshSettings {
  alias: string;
  hostname: string;
  user: string;
  port: number;
  identityFiles: string[];
  knownHostsFiles: string[];
  /** Known-hosts files new keys are recorded in (the user's, not the global ones). */
  userKnownHostsFiles: string[];
  strict: StrictMode;
  /** Name looked up in known_hosts instead of the host name (HostKeyAlias). */
  hostKeyAlias?: string;
  connectTimeoutMs?: number;
  serverAliveIntervalMs?: number;
  serverAliveCountMax?: number;
}

/** The argv of `ssh -G` for a target: user and port from the destination override the config. */
export function sshResolveCommand(target: SshTarget, configFile?: string): string[] {
  const argv = ['ssh', '-G'];
  if (configFile) argv.push('-F', configFile);
  if (target.port !== undefined) argv.push('-p', String(target.port));
  if (target.user !== undefined) argv.push('-l', target.user);
  // The alias was validated as a host name (it cannot begin with "-"); "--" makes sure anyway.
  argv.push('--', target.alias);
  return argv;
}

/** Expand ~ and the %-tokens OpenSSH leaves in identity-file paths. */
export function expandPath(path: string, s: { hostname: string; user: string; port: number; alias: string }): string {
  const home = homedir();
  let out = path.replace(/^~(?=\/|$)/, home);
  out = out.replace(/%(.)/g, (m, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'd':
        return home;
      case 'h':
        return s.hostname;
      case 'n':
        return s.alias;
      case 'p':
        return String(s.port);
      case 'r':
        return s.user;
      case 'u':
        return userInfo().username;
      default:
        return m;
    }
  });
  return out;
}

/** Parse `ssh -G` output ("key value" lines; keys lowercase). */
export function parseSshG(text: string, alias: string, acceptNewHostKeys = false): SshSettings {
  const values = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const key = line.slice(0, sp).toLowerCase();
    const list = values.get(key) ?? [];
    list.push(line.slice(sp + 1).trim());
    values.set(key, list);
  }
  const one = (k: string) => values.get(k)?.[0];
  const hostname = one('hostname') ?? alias;
  const user = one('user') ?? userInfo().username;
  const port = Number(one('port') ?? 22);
  const ctx = { hostname, user, port, alias };
  // IdentityFile comes one file per line (a path may contain spaces); the known-hosts settings
  // list several files on one line.
  const files = (k: string, oneLine: boolean) =>
    (values.get(k) ?? [])
      .flatMap((v) => (oneLine ? v.split(/\s+/) : [v]))
      .filter((f) => f && f !== 'none')
      .map((f) => expandPath(f, ctx));
  const userKnown = files('userknownhostsfile', true);
  const strictRaw = (one('stricthostkeychecking') ?? 'ask').toLowerCase();
  // "no"/"off" would let OpenSSH accept unknown keys; zback never accepts a changed key, so the
  // most it allows is accepting new ones.
  const strict: StrictMode = acceptNewHostKeys || ['accept-new', 'no', 'off', 'false'].includes(strictRaw) ? 'accept-new' : 'yes';
  const settings: SshSettings = {
    alias,
    hostname,
    user,
    port,
    identityFiles: files('identityfile', false),
    knownHostsFiles: [...userKnown, ...files('globalknownhostsfile', true)],
    userKnownHostsFiles: userKnown,
    strict,
  };
  const hka = one('hostkeyalias');
  if (hka && hka !== 'none') settings.hostKeyAlias = hka;
  const ct = one('connecttimeout');
  if (ct && /^\d+$/.test(ct)) settings.connectTimeoutMs = Number(ct) * 1000;
  const sai = one('serveraliveinterval');
  if (sai && /^\d+$/.test(sai) && sai !== '0') settings.serverAliveIntervalMs = Number(sai) * 1000;
  const sac = one('serveralivecountmax');
  if (sac && /^\d+$/.test(sac)) settings.serverAliveCountMax = Number(sac);
  return settings;
}

export async function resolveSsh(local: Host, target: SshTarget, configFile: string | undefined, acceptNew: boolean): Promise<SshSettings> {
  const argv = sshResolveCommand(target, configFile);
  const r = await local.run(argv);
  if (r.code !== 0) {
    const why = r.code === 127 ? 'the OpenSSH client (ssh) is not installed; zback reads its configuration with `ssh -G`' : r.stderr.trim();
    throw new Error(`cannot read the ssh configuration for ${target.alias}: ${why}`);
  }
  return parseSshG(r.stdout, target.alias, acceptNew);
}
