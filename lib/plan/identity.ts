/**
 * Who a destination is, whatever its spelling. `bk:pool/x`, `root@bk:pool/x` and `bk:22:pool/x`
 * name the same copy, so the protection of its base (SPEC §9) must not depend on which spelling
 * the property has today: a destination re-spelled while its host is down keeps its base.
 */
import type { HoldRecord } from '../state/holds.js';

/** The host of a host label, without user and port, lower-cased ("root@BK:2222" → "bk"); "local" stays. */
export function hostIdentity(label: string): string {
  const noUser = label.includes('@') ? label.slice(label.lastIndexOf('@') + 1) : label;
  const host = noUser.startsWith('[') ? noUser.slice(0, noUser.indexOf(']') + 1) : noUser.split(':')[0]!;
  return host.toLowerCase();
}

/** "bk:pool/x" for any spelling of the host bk; "local:pool/x" for a pool on this machine. */
export function destinationIdentity(hostLabel: string, target: string): string {
  return `${hostIdentity(hostLabel)}:${target}`;
}

/** The destination a source hold's tag names ("zback:root@bk:22:pool/x"); null for a hashed or foreign tag. */
export function destinationOfTag(tag: string): { hostLabel: string; target: string } | null {
  if (!tag.startsWith('zback:')) return null;
  const rest = tag.slice('zback:'.length);
  const colon = rest.lastIndexOf(':'); // dataset names have no ":", host labels may (a port)
  if (colon <= 0) return null;
  return { hostLabel: rest.slice(0, colon), target: rest.slice(colon + 1) };
}

/** The destination identity a recorded hold protects a base for (null: cannot tell). */
export function holdIdentity(h: HoldRecord): string | null {
  if (h.role === 'target') return destinationIdentity(h.host, h.dataset);
  if (h.destination) return destinationIdentity(h.destination.hostLabel, h.destination.target);
  const d = destinationOfTag(h.tag);
  return d ? destinationIdentity(d.hostLabel, d.target) : null;
}

/** The target path a recorded hold's destination has (null: cannot tell). */
export function holdTargetPath(h: HoldRecord): string | null {
  if (h.role === 'target') return h.dataset;
  return h.destination?.target ?? destinationOfTag(h.tag)?.target ?? null;
}

/** The destination identity of a replication key ("root@bk:pool/x", or "pool/x" on this machine). */
export function keyIdentity(key: string): string {
  const colon = key.lastIndexOf(':');
  return colon < 0 ? destinationIdentity('local', key) : destinationIdentity(key.slice(0, colon), key.slice(colon + 1));
}
