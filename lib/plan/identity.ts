/**
 * Who a destination is, whatever its spelling. `bk:pool/x`, `root@bk:pool/x`, `BK:pool/x` and
 * `bk:22:pool/x` name the same copy, so the protection of its base (SPEC §9) must not depend on
 * which spelling the property has today: a destination re-spelled while its host is down keeps its
 * base. Another port than 22 is another machine (a NAT port forward, a tunnel): `gw:2201` and
 * `gw:2202` are two destinations.
 */
import type { HoldRecord } from '../state/holds.js';

/** The host of a host label without user, lower-cased, with its port unless 22 ("root@BK:22" → "bk", "gw:2201" stays); "local" stays. */
export function hostIdentity(label: string): string {
  const noUser = label.includes('@') ? label.slice(label.lastIndexOf('@') + 1) : label;
  const host = noUser.startsWith('[') ? noUser.slice(0, noUser.indexOf(']') + 1) : noUser.split(':')[0]!;
  const port = noUser.slice(host.length).replace(/^:/, '');
  return (port && port !== '22' ? `${host}:${port}` : host).toLowerCase();
}

/**
 * A "host:target" key or tag body split into its host label and target. Dataset names may contain
 * ":" but never before their first "/", and a host label never contains "/"; a key without a host
 * part is a target on this machine.
 */
export function splitKey(key: string): { hostLabel: string; target: string } {
  const m = /^((?:[^@/:[\]]+@)?(?:\[[^\]/]+\]|[^@/:[\]]+)(?::\d+)?):([^/:]+\/.*)$/.exec(key);
  return m ? { hostLabel: m[1]!, target: m[2]! } : { hostLabel: 'local', target: key };
}

/** "bk:pool/x" for any spelling of the host bk; "local:pool/x" for a pool on this machine. */
export function destinationIdentity(hostLabel: string, target: string): string {
  return `${hostIdentity(hostLabel)}:${target}`;
}

/** The destination a source hold's tag names ("zback:root@bk:22:pool/x"); null for a hashed or foreign tag. */
export function destinationOfTag(tag: string): { hostLabel: string; target: string } | null {
  if (!tag.startsWith('zback:')) return null;
  const d = splitKey(tag.slice('zback:'.length));
  return d.hostLabel === 'local' && !tag.startsWith('zback:local:') ? null : d;
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
  const d = splitKey(key);
  return destinationIdentity(d.hostLabel, d.target);
}
