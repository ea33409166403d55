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
