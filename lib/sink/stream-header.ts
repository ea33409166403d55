/**
 * What the restricted sink lets into `zfs receive`: the kind of stream zback sends (SPEC §10).
 * A plain `zfs receive -u target` accepts any send stream, and some carry more than snapshots:
 * a replication (`-R`) or properties (`-p`) stream sets received properties on the copy
 * (`mountpoint=/root/.ssh`, `setuid=on`: mounted at the next boot, a root sink is then the
 * attacker's), creates children, renames existing snapshots by guid (so a name checked against
 * --keep-days can be another snapshot by the time it is destroyed); a clone stream ties the copy to
 * a snapshot anywhere in the pool, found by guid. zback sends none of these: full and `-i` streams
 * (one substream) and `-I` (a compound stream with no payload, then substreams). So the sink reads
 * the first records itself and refuses a compound stream with a payload and a clone substream.
 *
 * Records are `dmu_replay_record`s of 312 bytes; a DRR_BEGIN is:
 *   0 drr_type (u32, 0 = BEGIN)   4 drr_payloadlen (u32)   8 drr_magic (u64, 0x2F5BACBAC)
 *  16 drr_versioninfo (u64; low 2 bits: 1 substream, 2 compound)   24 drr_creation_time (u64)
 *  32 drr_type of the objset (u32)   36 drr_flags (u32; bit 0: clone)   40 toguid   48 fromguid
 *  56 drr_toname[256]
 * in the sender's byte order, which the magic tells. A compound header with no payload is followed
 * by a DRR_END record, then the first substream's BEGIN.
 */
export const RECORD = 312;
const MAGIC = 0x2f5bacbacn;
const SUBSTREAM = 1;
const COMPOUND = 2;
const FLAG_CLONE = 1;

export type StreamVerdict = { ok: true } | { ok: false; why: string } | { need: number };

interface Begin {
  payloadlen: number;
  hdrtype: number;
  flags: number;
  toguid: bigint;
  fromguid: bigint;
}

function begin(buf: Buffer, at: number): Begin | null {
  const le = buf.readBigUInt64LE(at + 8) === MAGIC;
  if (!le && buf.readBigUInt64BE(at + 8) !== MAGIC) return null;
  const u32 = (o: number) => (le ? buf.readUInt32LE(at + o) : buf.readUInt32BE(at + o));
  if (u32(0) !== 0) return null; // not DRR_BEGIN
  const versioninfo = le ? buf.readBigUInt64LE(at + 16) : buf.readBigUInt64BE(at + 16);
  const u64 = (o: number) => (le ? buf.readBigUInt64LE(at + o) : buf.readBigUInt64BE(at + o));
  return { payloadlen: u32(4), hdrtype: Number(versioninfo & 3n), flags: u32(36), toguid: u64(40), fromguid: u64(48) };
}

/**
 * The verdict on a stream's first bytes; `need`: read at least that many bytes and ask again
 * (a stream that ends before that is no stream zback sends).
 */
export function streamVerdict(head: Buffer): StreamVerdict {
  if (head.length < RECORD) return { need: RECORD };
  const first = begin(head, 0);
  if (!first) return { ok: false, why: 'the stream does not start with a ZFS send stream header' };
  if (first.hdrtype === SUBSTREAM) {
    // A payload here is the raw-send (encryption) or resume information: part of what zback sends.
    if (first.flags & FLAG_CLONE)
      return { ok: false, why: 'a clone stream (zback never sends one; it would tie the copy to a snapshot elsewhere in the pool)' };
    return { ok: true };
  }
  if (first.hdrtype !== COMPOUND) return { ok: false, why: `a stream of an unknown kind (header type ${first.hdrtype})` };
  if (first.payloadlen > 0) {
    return {
      ok: false,
      why: 'a replication or properties stream (zfs send -R or -p): it would set properties such as mountpoint on the backup host; zback never sends one',
    };
  }
  // zfs send -I: DRR_END of the compound header, then the first substream.
  if (head.length < 3 * RECORD) return { need: 3 * RECORD };
  const sub = begin(head, 2 * RECORD);
  if (!sub || sub.hdrtype !== SUBSTREAM) return { ok: false, why: 'a compound stream whose first part is not a snapshot stream' };
  if (sub.flags & FLAG_CLONE) return { ok: false, why: 'a clone stream (zback never sends one; it would tie the copy to a snapshot elsewhere in the pool)' };
  return { ok: true };
}

/**
 * zback restore, the other way: what a backup host sends back must be exactly what was asked for,
 * `zfs send [-w -L -e -c] DATASET@SNAPSHOT` — one full snapshot stream (a substream whose fromguid
 * is 0) of the snapshot with this guid. A hostile backup host could otherwise answer with a
 * replication or properties stream (received properties such as mountpoint=/root/.ssh or
 * setuid=on, mounted at the next boot), extra children, a clone or an incremental.
 */
export function restoreStreamVerdict(head: Buffer, guid: string): StreamVerdict {
  if (head.length < RECORD) return { need: RECORD };
  const first = begin(head, 0);
  if (!first) return { ok: false, why: 'the stream does not start with a ZFS send stream header' };
  if (first.hdrtype !== SUBSTREAM)
    return { ok: false, why: 'a replication, properties or multi-snapshot stream (zfs send -R, -p or -I), not the one snapshot asked for' };
  if (first.flags & FLAG_CLONE) return { ok: false, why: 'a clone stream, not the snapshot asked for' };
  if (first.fromguid !== 0n) return { ok: false, why: 'an incremental stream, not the full snapshot asked for' };
  if (!/^\d+$/.test(guid) || first.toguid !== BigInt(guid)) return { ok: false, why: `a stream of another snapshot (guid ${first.toguid}, not ${guid})` };
  return { ok: true };
}
