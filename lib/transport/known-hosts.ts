/**
 * OpenSSH known_hosts checking for ssh2's hostVerifier (ssh2 itself accepts any key).
 *
 * Supports what real files contain: plain and hashed (`|1|salt|hmac-sha1`) host fields,
 * `[host]:port` for non-standard ports, comma lists, `*`/`?` wildcards, `!negation`, and the
 * `@revoked` marker. `@cert-authority` lines are skipped: ssh2 has no host certificates.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type HostKeyStatus = 'known' | 'changed' | 'unknown' | 'revoked';

export interface HostKeyCheck {
  status: HostKeyStatus;
  /** Key types known for this host (to offer only those, as OpenSSH does). */
  knownTypes: string[];
  /** file:line of a conflicting entry, for the message about a changed key. */
  conflict?: string;
}

/** The name known_hosts stores for a host and port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (const c of pattern) re += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`, 'i');
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const entry of field.split(',')) {
    const negated = entry.startsWith('!');
    if (globToRegExp(negated ? entry.slice(1) : entry).test(name)) {
      if (negated) return false; // a matching negation rules the line out
      matched = true;
    }
  }
  return matched;
}

/** The key type inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint format, as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function checkHostKey(files: readonly string[], name: string, key: Buffer): HostKeyCheck {
  const b64 = key.toString('base64');
  const type = keyTypeOf(key);
  const knownTypes = new Set<string>();
  let known = false;
  let revoked: string | undefined;
  let conflict: string | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const fields = line.split(/\s+/);
      const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
      const [hostField, keyType, keyData] = fields;
      if (!hostField || !keyType || !keyData || !hostFieldMatches(hostField, name)) return;
      if (marker === '@revoked') {
        if (keyData === b64) revoked = `${file}:${i + 1}`;
        return;
      }
      if (marker !== undefined) return; // @cert-authority
      knownTypes.add(keyType);
      if (keyData === b64) known = true;
      else if (keyType === type && conflict === undefined) conflict = `${file}:${i + 1}`;
    });
  }
  if (revoked) return { status: 'revoked', knownTypes: [], conflict: revoked };
  const types = [...knownTypes];
  if (known) return { status: 'known', knownTypes: types };
  // A different key of the same type, or only keys of other types: OpenSSH calls both a change.
  if (types.length > 0) return { status: 'changed', knownTypes: types, ...(conflict ? { conflict } : {}) };
  return { status: 'unknown', knownTypes: [] };
}

/** Record a newly accepted key (StrictHostKeyChecking accept-new), as OpenSSH would. */
export function addHostKey(file: string, name: string, key: Buffer): void {
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Like OpenSSH: a file whose last line has no newline gets one first, or the two lines would merge.
  let lead = '';
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) lead = '\n';
  } catch {
    /* a new file */
  }
  appendFileSync(file, `${lead}${name} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}
