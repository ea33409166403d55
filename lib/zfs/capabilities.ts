/**
 * What the `zfs` on a host can do. zback's core paths use only what zfs-fuse 0.7 (pool v23)
 * and OpenZFS 2.x both support; newer features are used where `zfs version` says OpenZFS.
 */
export interface ZfsCapabilities {
  /** "OpenZFS 2.3.2", or "legacy ZFS (no `zfs version`)" for zfs-fuse and other old ports. */
  description: string;
  openzfs: boolean;
  /** `zfs snapshot a@x b@x` in one atomic command. */
  multiSnapshot: boolean;
  /** `zfs destroy ds@a,b,c` in one command. */
  destroyList: boolean;
  /** `zfs get -t filesystem,volume`. */
  getTypeFilter: boolean;
  /** `zfs recv -s`, `receive_resume_token`, `zfs send -t`, `zfs recv -A`. */
  resumableReceive: boolean;
  /** `zfs send -nP` size estimates. */
  sendEstimate: boolean;
  /** Native encryption: the `encryption` property, raw sends (`zfs send -w`) and their receives. */
  encryption: boolean;
  /** `zfs receive -o property=value`: a seeded copy's marks set inside its receive. */
  receiveProperties: boolean;
}

export const LEGACY_CAPABILITIES: ZfsCapabilities = Object.freeze({
  description: 'legacy ZFS (no `zfs version`: zfs-fuse or an old port)',
  openzfs: false,
  multiSnapshot: false,
  destroyList: false,
  getTypeFilter: false,
  resumableReceive: false,
  sendEstimate: false,
  encryption: false,
  receiveProperties: false,
});

/** From the output of `zfs version` (null version: the command failed). */
export function capabilitiesFor(version: string | null): ZfsCapabilities {
  if (version === null) return LEGACY_CAPABILITIES;
  // `zfs version` exists since OpenZFS 0.8, which has every feature below.
  return {
    description: `OpenZFS ${version}`,
    openzfs: true,
    multiSnapshot: true,
    destroyList: true,
    getTypeFilter: true,
    resumableReceive: true,
    sendEstimate: true,
    encryption: true,
    receiveProperties: true,
  };
}

/** The pool features zback reads on OpenZFS (`zpool get`), for the stream options and for the dry run. */
export const POOL_FEATURES = ['large_blocks', 'embedded_data', 'lz4_compress', 'zstd_compress', 'bookmarks', 'bookmark_v2', 'encryption'] as const;

/** Per pool: each feature's state as `zpool get` says it (`enabled`, `active` or `disabled`). */
export type PoolFeatures = ReadonlyMap<string, ReadonlyMap<string, string>>;

/** The send options beyond a plain stream: raw (`-w`), large blocks, embedded data, compressed records. */
export type StreamFlag = '-w' | '-L' | '-e' | '-c';

const STREAM_FLAGS: ReadonlySet<string> = new Set<StreamFlag>(['-w', '-L', '-e', '-c']);

/** Whether a word is one of the stream options zback sends with (nothing else reaches a send). */
export function isStreamFlag(word: string): word is StreamFlag {
  return STREAM_FLAGS.has(word);
}

const usable = (pool: ReadonlyMap<string, string> | undefined, feature: string) => pool?.get(feature) === 'enabled' || pool?.get(feature) === 'active';

/**
 * The stream options for a new copy (SPEC §11), from both ZFSs and both pools' features: `-L`
 * (blocks above 128 KiB stay whole), `-e` (embedded blocks stay embedded) and `-c` (compressed
 * records go as they are stored, not decompressed for the wire) where the destination's pool can
 * take them; none where either side is not OpenZFS or the destination's features are unknown. A
 * raw send (`-w`, an encrypted dataset) sends every block as stored already.
 */
export function chooseStreamFlags(
  local: ZfsCapabilities,
  remote: ZfsCapabilities,
  sourcePool: ReadonlyMap<string, string> | undefined,
  targetPool: ReadonlyMap<string, string> | undefined,
  raw: boolean,
): StreamFlag[] {
  if (raw) return ['-w'];
  if (!local.openzfs || !remote.openzfs || !targetPool) return [];
  const flags: StreamFlag[] = [];
  if (usable(targetPool, 'large_blocks')) flags.push('-L');
  if (usable(targetPool, 'embedded_data')) flags.push('-e');
  // zstd-compressed records can only be received compressed by a pool that knows zstd.
  const zstdHere = sourcePool?.get('zstd_compress') === 'active' || sourcePool === undefined;
  if (usable(targetPool, 'lz4_compress') && (!zstdHere || usable(targetPool, 'zstd_compress'))) flags.push('-c');
  return flags;
}

/** "large_blocks embedded_data lz4_compress …": the features of a pool that are enabled or active. */
export function featureList(pool: ReadonlyMap<string, string> | undefined): string {
  if (!pool) return 'unknown';
  const on = POOL_FEATURES.filter((f) => usable(pool, f));
  return on.length ? on.join(' ') : 'none of ' + POOL_FEATURES.join(', ');
}

/**
 * Whether zback can keep bookmarks of this pool's datasets (SPEC §11): OpenZFS here, and the pool's
 * `bookmarks` feature enabled or active (a pool made by an older ZFS and never upgraded has none).
 */
export function canBookmark(local: ZfsCapabilities, pool: ReadonlyMap<string, string> | undefined): boolean {
  return local.openzfs && usable(pool, 'bookmarks');
}
