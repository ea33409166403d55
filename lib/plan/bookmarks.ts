/**
 * zback's bookmarks (SPEC §11): after each successful send, the sent snapshot is bookmarked on the
 * source, one bookmark per destination; when that snapshot is destroyed anyway (by a person or
 * another tool), the next send starts from the bookmark (`zfs send -i ds#bookmark`) instead of a
 * full resend. Holds stay the first protection; the bookmark is what makes a lost base survivable.
 *
 * The name says what and for whom: `<snapshot>.zback.<destination>.<hash>`, e.g.
 * `2026-12-03-110000.zback.bk1_backup_tank_data.3f2a9c1b` — the snapshot it marks, then the
 * destination's identity (host without user and port 22, and the target path, as in
 * lib/plan/identity.ts, so a re-spelled host keeps its bookmark) with the characters a ZFS name
 * cannot have made "_", then 8 hex digits of that identity's SHA-256. The hash tells destinations
 * apart whose readable parts come out alike, and ends the name, so "this destination's bookmarks"
 * is an exact suffix (no other destination's suffix can end with it).
 */
import { createHash } from 'node:crypto';
import { destinationIdentity } from './identity.js';
import { MAX_NAME_LENGTH } from '../zfs/dataset-names.js';

const READABLE_MAX = 48;

/** The suffix of every zback bookmark for this destination (".zback.<readable>.<hash>"). */
export function bookmarkSuffix(hostLabel: string, target: string): string {
  const id = destinationIdentity(hostLabel, target);
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  const readable = id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, READABLE_MAX);
  return `.zback.${readable}.${hash}`;
}

/**
 * This destination's bookmarks, with its suffix hashed once (callers test every bookmark of a
 * dataset): `owns` tells whether a bookmark (the part after "#") is zback's for it, `snapshotOf`
 * which snapshot one of them marks, `nameFor` the name for `dataset@snapshot` — null when longer
 * than ZFS allows (a very long dataset name: that dataset goes without the safety net).
 */
export function destinationBookmarks(hostLabel: string, target: string) {
  const suffix = bookmarkSuffix(hostLabel, target);
  return {
    suffix,
    owns: (bookmark: string): boolean => bookmark.length > suffix.length && bookmark.endsWith(suffix),
    snapshotOf: (bookmark: string): string => bookmark.slice(0, bookmark.length - suffix.length),
    nameFor: (dataset: string, snapshot: string): string | null => {
      const name = `${snapshot}${suffix}`;
      return dataset.length + 1 + name.length <= MAX_NAME_LENGTH ? name : null;
    },
  };
}

/** The bookmark for `dataset@snapshot` and this destination (see destinationBookmarks). */
export function bookmarkName(dataset: string, snapshot: string, hostLabel: string, target: string): string | null {
  return destinationBookmarks(hostLabel, target).nameFor(dataset, snapshot);
}

/** Whether a bookmark (the part after "#") is zback's for this destination. */
export function isBookmarkFor(bookmark: string, hostLabel: string, target: string): boolean {
  return destinationBookmarks(hostLabel, target).owns(bookmark);
}

/** Whether a bookmark is zback's at all (for some destination). */
export function isZbackBookmark(bookmark: string): boolean {
  return /\.zback\.[A-Za-z0-9_.-]+\.[0-9a-f]{8}$/.test(bookmark);
}
