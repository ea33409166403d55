/**
 * A receive_resume_token comes from the backup host: opaque text that host chooses, with no MAC
 * (its checksum is a plain fletcher4 of the compressed payload, anyone can forge one). Before the
 * source runs `zfs send -t TOKEN`, it decodes the token LOCALLY with `zfs send -nvt TOKEN` (a dry
 * run that prints the decoded nvlist and what it would send) and checks it here, so a hostile
 * backup host can make the source neither send another dataset nor send encrypted data decrypted.
 *
 * What OpenZFS 2.3 prints (stdout; see __tests__/fixtures/openzfs/):
 *
 *   resume token contents:
 *   nvlist version: 0
 *   \tfromguid = 0xc2291fe55dd75717        (incremental tokens only)
 *   \tobject = 0x3
 *   \toffset = 0xc0000
 *   \tbytes = 0xe1270
 *   \ttoguid = 0x5666dd51b30e6867
 *   \ttoname = tank/a@s2
 *   \trawok = 1                             (flags, when present: largeblockok embedok compressok rawok)
 *   send from tank/a@s1 to tank/a@s2 estimated size is 3.14M     (-nvPt: incremental\tFROM\tTO\tBYTES)
 *   total estimated size is 3.14M                                (-nvPt: size\tBYTES)
 *
 * The estimate line names the snapshot OpenZFS really resolved, and that is what counts: libzfs
 * finds the snapshot to send by toguid (and the incremental source by fromguid), searching the
 * whole pool and using toname only as the place to start. A token naming tank/a@s1 with the guid
 * of tank/e@s1 sends tank/e@s1 (decrypted, without rawok); one naming tank/e@s1 with the guid of
 * tank/a@s1 sends any snapshot of that guid, a received copy in another dataset included. So the
 * check below ties toname, toguid, fromguid AND the resolved names to the expected dataset.
 * When the snapshot is gone or replaced, the nvlist is still printed, the estimate is not, and
 * stderr says why ("cannot resume send: ..."), exit 255. A token it cannot decode prints nothing
 * on stdout ("cannot resume send: resume token is corrupt (...)" on stderr).
 */

/** The token flags libzfs turns into send flags (by their mere presence in the nvlist). */
export interface ResumeTokenFlags {
  largeblockok: boolean;
  embedok: boolean;
  compressok: boolean;
  /** A raw send (`zfs send -w`): encrypted blocks leave as they are on disk. */
  rawok: boolean;
}

export interface ResumeTokenInfo {
  /** The snapshot the token names ("toname"): only where libzfs starts its search by toguid. */
  toname: string;
  toguid: bigint;
  /** Incremental tokens only (a fromguid of 0 means a full send, as libzfs reads it). */
  fromguid?: bigint;
  object: bigint;
  offset: bigint;
  bytes: bigint;
  flags: ResumeTokenFlags;
  /** nvlist keys other than the above (OpenZFS knows savedok, redact_snaps, book_redact_snaps). */
  otherKeys: string[];
  /**
   * What OpenZFS resolved the guids to, from its estimate line: the snapshot it would really send
   * and, for an incremental, its source. Absent when the dry run failed after decoding the token.
   */
  resolved?: { to: string; from?: string };
  /** OpenZFS's complaint on stderr ("cannot resume send: ..."), if any. */
  complaint?: string;
}

export type ResumeTokenCheck = { ok: true; to: string; from?: string } | { ok: false; problem: string };

export interface ResumeTokenExpectation {
  /** The source dataset the interrupted receive belongs to. */
  dataset: string;
  /** Its snapshots: name after "@" → guid as `zfs get -p guid` prints it (decimal). */
  snapshots: ReadonlyMap<string, string>;
  /** Its bookmarks: name after "#" → guid (an incremental from a bookmark, SPEC §11, starts at one). */
  bookmarks?: ReadonlyMap<string, string>;
  /** Whether the dataset is encrypted: then only a raw (rawok) token may be used. */
  encrypted: boolean;
}

const FLAG_KEYS = ['largeblockok', 'embedok', 'compressok', 'rawok'] as const;
const NUMBER_KEYS = ['object', 'offset', 'bytes', 'toguid', 'fromguid'] as const;
/** The keys zback's own sends put in a token; anything else asks for a kind of send zback never starts. */
const KNOWN_KEYS = new Set<string>([...NUMBER_KEYS, 'toname', ...FLAG_KEYS]);

function hexU64(value: string): bigint | null {
  if (!/^0x[0-9a-f]{1,16}$/i.test(value)) return null;
  return BigInt(value);
}

function decimalU64(value: string): bigint | null {
  if (!/^\d{1,20}$/.test(value)) return null;
  const n = BigInt(value);
  return n < 1n << 64n ? n : null;
}

const hex = (n: bigint) => `0x${n.toString(16)}`;
/** A name from the token as text for a message: quoted when it holds anything odd (it is the backup host's text). */
const shown = (name: string) => (/^[\w.:/@#-]+$/.test(name) ? name : JSON.stringify(name));

/**
 * Parse what `zfs send -nvt TOKEN` (or `-nvPt`) printed. Strict: anything but the header, one flat
 * nvlist of tab-indented `key = value` lines without repeats, at most one estimate line and the
 * total line gives null (a hostile toname with a newline in it cannot smuggle in a second toname
 * or a second estimate line). null too when the token could not be decoded at all.
 */
export function parseResumeTokenInfo(stdout: string, stderr = ''): ResumeTokenInfo | null {
  const lines = stdout.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== 'resume token contents:' || lines[1] !== 'nvlist version: 0') return null;

  const fields = new Map<string, string>();
  let i = 2;
  for (; i < lines.length && lines[i]!.startsWith('\t'); i++) {
    const m = /^\t([a-z_]+)(?: = (.*))?$/.exec(lines[i]!);
    if (!m) return null;
    const key = m[1]!;
    if (fields.has(key)) return null;
    fields.set(key, m[2] ?? '');
  }

  let resolved: { to: string; from?: string } | undefined;
  let totals = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    let r: { to: string; from?: string } | undefined;
    let m: RegExpExecArray | null;
    if ((m = /^full send of (.+) estimated size is \S+$/.exec(line))) r = { to: m[1]! };
    else if ((m = /^send from (.+?) to (.+) estimated size is \S+$/.exec(line))) r = { from: m[1]!, to: m[2]! };
    else if ((m = /^full\t([^\t]+)\t\d+$/.exec(line))) r = { to: m[1]! };
    else if ((m = /^incremental\t([^\t]+)\t([^\t]+)\t\d+$/.exec(line))) r = { from: m[1]!, to: m[2]! };
    else if (/^total estimated size is \S+$/.test(line) || /^size\t\d+$/.test(line)) {
      if (++totals > 1) return null;
      continue;
    } else return null;
    if (resolved) return null;
    // "send from @s1 to tank/a@s2": a short source is a snapshot of the target's dataset.
    if (r.from?.startsWith('@')) r.from = `${r.to.split('@')[0]}${r.from}`;
    resolved = r;
  }

  const toname = fields.get('toname');
  if (toname === undefined || toname === '') return null;
  const num: Partial<Record<(typeof NUMBER_KEYS)[number], bigint>> = {};
  for (const key of NUMBER_KEYS) {
    const raw = fields.get(key);
    if (raw === undefined) continue;
    const n = hexU64(raw);
    if (n === null) return null;
    num[key] = n;
  }
  if (num.toguid === undefined || num.object === undefined || num.offset === undefined || num.bytes === undefined) return null;

  const info: ResumeTokenInfo = {
    toname,
    toguid: num.toguid,
    object: num.object,
    offset: num.offset,
    bytes: num.bytes,
    // libzfs tests these with nvlist_exists: present is set, whatever the value.
    flags: { largeblockok: fields.has('largeblockok'), embedok: fields.has('embedok'), compressok: fields.has('compressok'), rawok: fields.has('rawok') },
    otherKeys: [...fields.keys()].filter((k) => !KNOWN_KEYS.has(k)),
  };
  if (num.fromguid !== undefined && num.fromguid !== 0n) info.fromguid = num.fromguid;
  if (resolved) info.resolved = resolved;
  const complaint = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
  if (complaint) info.complaint = complaint;
  return info;
}

/**
 * May the source run `zfs send -t` with this token for `expected.dataset`? Only if the token names
 * one of that dataset's snapshots by name and guid, its incremental source (if any) is another
 * snapshot of it, OpenZFS resolved both to exactly those snapshots, the token asks for nothing
 * else, and an encrypted dataset is sent raw.
 */
export function checkResumeToken(info: ResumeTokenInfo, expected: ResumeTokenExpectation): ResumeTokenCheck {
  const { dataset } = expected;
  const refuse = (problem: string): ResumeTokenCheck => ({ ok: false, problem: `the resume token for ${dataset} ${problem}` });

  const at = info.toname.indexOf('@');
  const tonameDataset = at < 0 ? info.toname : info.toname.slice(0, at);
  const to = at < 0 ? '' : info.toname.slice(at + 1);
  if (at < 0 || tonameDataset !== dataset) {
    return refuse(`names ${shown(info.toname)}, ${at < 0 ? 'which is not a snapshot' : `a snapshot of another dataset (${shown(tonameDataset)})`}`);
  }
  const toGuidText = expected.snapshots.get(to);
  if (toGuidText === undefined) return refuse(`names ${info.toname}, a snapshot ${dataset} does not have`);
  const toGuid = decimalU64(toGuidText);
  if (toGuid === null || toGuid !== info.toguid) {
    return refuse(
      `names ${info.toname} but carries guid ${hex(info.toguid)} (${info.toguid}), and ${info.toname} has guid ${toGuidText}: the token would send another snapshot`,
    );
  }

  // The incremental source: a snapshot, or (its snapshot destroyed) a bookmark of the same guid —
  // zfs send -t then starts from whichever of them it finds, as -nvt says.
  let fromName: string | undefined;
  if (info.fromguid !== undefined) {
    const fromguid = info.fromguid;
    const same = (guid: string) => decimalU64(guid) === fromguid;
    const candidates = [
      ...[...expected.snapshots].filter(([, g]) => same(g)).map(([n]) => `${dataset}@${n}`),
      ...[...(expected.bookmarks ?? [])].filter(([, g]) => same(g)).map(([n]) => `${dataset}#${n}`),
    ];
    if (candidates.length === 0) return refuse(`is incremental from guid ${hex(fromguid)} (${fromguid}), which is not a snapshot or bookmark of ${dataset}`);
    if (candidates.includes(`${dataset}@${to}`)) return refuse(`is incremental from ${dataset}@${to} to itself`);
    fromName = candidates.find((c) => c === info.resolved?.from) ?? candidates[0]!;
  }

  if (info.otherKeys.length > 0) return refuse(`also carries ${info.otherKeys.join(', ')}, which zback's sends never put in a token`);

  if (!info.resolved) {
    return refuse(`names ${info.toname}, but zfs send -nvt did not say what it would send${info.complaint ? ` (${info.complaint})` : ''}`);
  }
  if (info.resolved.to !== info.toname) return refuse(`names ${info.toname}, but zfs would send ${info.resolved.to}`);
  if (info.resolved.from !== fromName) {
    return refuse(
      fromName === undefined
        ? `is a full send, but zfs would send incrementally from ${info.resolved.from}`
        : `is incremental from ${fromName}, but zfs would send ${info.resolved.from === undefined ? 'a full stream' : `from ${info.resolved.from}`}`,
    );
  }
  if (info.complaint) return refuse(`names ${info.toname}, but zfs send -nvt complained: ${info.complaint}`);

  if (expected.encrypted && !info.flags.rawok) {
    return refuse(`names ${info.toname} of an encrypted dataset but is not a raw send (no rawok): resuming it would send the data decrypted`);
  }
  // (`from`: the snapshot or "#bookmark" the stream starts at.)
  const from = fromName?.slice(dataset.length + 1);
  return from === undefined ? { ok: true, to } : { ok: true, to, from: fromName!.startsWith(`${dataset}@`) ? from : `#${from}` };
}
