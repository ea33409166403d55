/**
 * Parsers for `zfs` output. Every line is tab-separated (`-H`); values may contain spaces, so
 * only tabs split fields, and the last field takes the rest of the line (a value with a tab in it
 * stays whole).
 */

export interface PropertyRow {
  name: string;
  property: string;
  value: string;
  source: string;
}

function lines(text: string): string[] {
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

/** The sources `zfs get -s local,inherited,received` can print. */
const SOURCE = 'local|received|inherited from [^\\t\\n]*|default|-';

/**
 * `zfs get -H -p -o name,property,value,source …`. A value may contain tabs and even line breaks
 * (`zfs get -H` prints them raw), so a value ends at the first "\t<source>" that ends a line.
 */
export function parsePropertyRows(text: string): PropertyRow[] {
  const rows: PropertyRow[] = [];
  const head = /([^\t\n]+)\t([^\t\n]+)\t/y;
  const tail = new RegExp(`\\t(${SOURCE})(?:\\n|$)`, 'g');
  for (let pos = 0; pos < text.length;) {
    head.lastIndex = pos;
    const h = head.exec(text);
    tail.lastIndex = head.lastIndex;
    const t = h ? tail.exec(text) : null;
    if (!h || !t) throw new Error(`unexpected zfs get output: ${JSON.stringify(text.slice(pos, pos + 200))}`);
    rows.push({ name: h[1]!, property: h[2]!, value: text.slice(head.lastIndex, t.index), source: t[1]! });
    pos = tail.lastIndex;
  }
  return rows;
}

/** The same rows from `zfs get -H -p -o value,source,property,name …` (value first). */
export function parsePropertyRowsValueFirst(text: string): PropertyRow[] {
  const rows: PropertyRow[] = [];
  const tail = new RegExp(`\\t(${SOURCE})\\t([^\\t\\n]+)\\t([^\\t\\n]+)(?:\\n|$)`, 'g');
  for (let pos = 0; pos < text.length;) {
    tail.lastIndex = pos;
    const t = tail.exec(text);
    if (!t) throw new Error(`unexpected zfs get output: ${JSON.stringify(text.slice(pos, pos + 200))}`);
    rows.push({ name: t[3]!, property: t[2]!, value: text.slice(pos, t.index), source: t[1]! });
    pos = tail.lastIndex;
  }
  return rows;
}

/**
 * Property values are untrusted, and a value with a line break can imitate whole rows of
 * `zfs get` output (someone allowed to set properties on one dataset could otherwise configure
 * another). zback therefore reads the rows twice, with the value in different columns, and keeps
 * only rows both readings agree on: a forged row cannot parse the same way in both. Datasets
 * named by any row the readings disagree on are reported as unreadable (the forger's and its
 * victims' alike: Zfs.config then re-reads each of them alone).
 */
export function crossCheckRows(nameFirst: readonly PropertyRow[], valueFirst: readonly PropertyRow[]): { rows: PropertyRow[]; unreadable: Set<string> } {
  const key = (r: PropertyRow) => JSON.stringify([r.name, r.property, r.value, r.source]);
  const keyed = (rows: readonly PropertyRow[]) => rows.map((r) => ({ r, k: key(r) }));
  const count = (rows: ReadonlyArray<{ k: string }>) => {
    const m = new Map<string, number>();
    for (const { k } of rows) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  };
  const first = keyed(nameFirst);
  const second = keyed(valueFirst);
  const a = count(first);
  const b = count(second);
  const unreadable = new Set<string>();
  const rows: PropertyRow[] = [];
  for (const { r, k } of first) (a.get(k) === b.get(k) ? rows : (unreadable.add(r.name), [])).push(r);
  for (const { r, k } of second) if (a.get(k) !== b.get(k)) unreadable.add(r.name);
  return { rows: rows.filter((r) => !unreadable.has(r.name)), unreadable };
}

export interface SnapshotInfo {
  /** The part after "@". */
  name: string;
  guid: string;
  createtxg: number;
  userrefs: number;
  /** Seconds since the epoch, when the inventory read it (zback prune). */
  creation?: number;
}

/** A bookmark (OpenZFS): what a snapshot was, kept after it is destroyed (an incremental can start there). */
export interface BookmarkInfo {
  /** The part after "#". */
  name: string;
  guid: string;
  createtxg: number;
}

export interface DatasetInfo {
  name: string;
  guid: string;
  createtxg: number;
  /** In creation order (createtxg). */
  snapshots: SnapshotInfo[];
  /** OpenZFS: a token when an interrupted resumable receive left partial state. */
  resumeToken?: string;
  /** OpenZFS: the `encryption` property (`off`, `aes-256-gcm`, …). */
  encryption?: string;
  /** OpenZFS, where the inventory asked for them: bookmarks in creation order. */
  bookmarks?: BookmarkInfo[];
}

export type Inventory = Map<string, DatasetInfo>;

/**
 * `zfs get -H -p -o name,property,value -r guid,createtxg,userrefs[,receive_resume_token,encryption] ROOTS…`:
 * three to five rows per dataset and snapshot, grouped into datasets with ordered snapshots.
 */
export function parseInventory(text: string): Inventory {
  const datasets: Inventory = new Map();
  const snaps = new Map<string, Partial<SnapshotInfo> & { dataset: string }>();
  // `zfs get` prints an object's properties on consecutive lines: look each object up once, not
  // once per line (with 100,000 snapshots this parser is most of a no-op run's time).
  let lastName = '';
  let dataset: DatasetInfo | undefined;
  let snap: (Partial<SnapshotInfo> & { dataset: string }) | undefined;
  const marks = new Map<string, Partial<BookmarkInfo> & { dataset: string }>();
  let mark: (Partial<BookmarkInfo> & { dataset: string }) | undefined;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const tab1 = text.indexOf('\t', pos);
    const tab2 = tab1 < 0 || tab1 > end ? -1 : text.indexOf('\t', tab1 + 1);
    if (tab2 < 0 || tab2 > end) throw new Error(`unexpected zfs get output line: ${JSON.stringify(text.slice(pos, end))}`);
    const name = text.slice(pos, tab1);
    const property = text.slice(tab1 + 1, tab2);
    const value = text.slice(tab2 + 1, end);
    pos = end + 1;
    if (name !== lastName) {
      lastName = name;
      dataset = snap = mark = undefined;
      const hash = name.indexOf('#');
      const at = name.indexOf('@');
      if (hash >= 0) {
        mark = marks.get(name);
        if (!mark) marks.set(name, (mark = { dataset: name.slice(0, hash), name: name.slice(hash + 1) }));
      } else if (at < 0) {
        dataset = datasets.get(name);
        if (!dataset) datasets.set(name, (dataset = { name, guid: '', createtxg: 0, snapshots: [] }));
      } else {
        snap = snaps.get(name);
        if (!snap) snaps.set(name, (snap = { dataset: name.slice(0, at), name: name.slice(at + 1) }));
      }
    }
    if (dataset) {
      if (property === 'guid') dataset.guid = value;
      else if (property === 'createtxg') dataset.createtxg = Number(value);
      else if (property === 'receive_resume_token' && value !== '-' && value !== '') dataset.resumeToken = value;
      else if (property === 'encryption' && value !== '-' && value !== '') dataset.encryption = value;
    } else if (snap) {
      if (property === 'guid') snap.guid = value;
      else if (property === 'createtxg') snap.createtxg = Number(value);
      else if (property === 'userrefs') snap.userrefs = value === '-' ? 0 : Number(value);
      else if (property === 'creation' && /^\d+$/.test(value)) snap.creation = Number(value);
    } else if (mark) {
      if (property === 'guid') mark.guid = value;
      else if (property === 'createtxg') mark.createtxg = Number(value);
    }
  }
  for (const s of snaps.values()) {
    let d = datasets.get(s.dataset);
    if (!d) datasets.set(s.dataset, (d = { name: s.dataset, guid: '', createtxg: 0, snapshots: [] }));
    d.snapshots.push({
      name: s.name!,
      guid: s.guid ?? '',
      createtxg: s.createtxg ?? 0,
      userrefs: s.userrefs ?? 0,
      ...(s.creation !== undefined ? { creation: s.creation } : {}),
    });
  }
  for (const b of marks.values()) {
    const d = datasets.get(b.dataset);
    if (!d || !b.guid) continue; // (a bookmark is listed after its dataset: one without it is not ours to use)
    (d.bookmarks ??= []).push({ name: b.name!, guid: b.guid, createtxg: b.createtxg ?? 0 });
  }
  for (const d of datasets.values()) d.bookmarks?.sort((a, b) => a.createtxg - b.createtxg || (a.name < b.name ? -1 : 1));
  for (const d of datasets.values()) d.snapshots.sort((a, b) => a.createtxg - b.createtxg || (a.name < b.name ? -1 : 1));
  return datasets;
}

/** `zpool get -H -o name,property,value feature@…`: per pool, each feature's state (`-` lines skipped). */
export function parsePoolFeatures(text: string): Map<string, Map<string, string>> {
  const pools = new Map<string, Map<string, string>>();
  for (const line of lines(text)) {
    const [pool, property, value] = line.split('\t');
    if (pool === undefined || property === undefined || value === undefined || !property.startsWith('feature@')) continue;
    if (value === '-') continue; // a feature this ZFS does not know
    const m = pools.get(pool) ?? new Map<string, string>();
    m.set(property.slice('feature@'.length), value);
    pools.set(pool, m);
  }
  return pools;
}

/** `zfs send -nP …`: the line "size\t<bytes>" (null when absent). */
export function parseSendSize(text: string): number | null {
  const m = /^size\s+(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** `zfs list -H -o name` */
export function parseNameList(text: string): string[] {
  return lines(text).filter((l) => l !== '');
}

/** `zfs version` (OpenZFS ≥ 0.8): "zfs-2.3.2-2~bpo12+2\nzfs-kmod-2.3.2-2~bpo12+2" → "2.3.2". */
export function parseZfsVersion(text: string): string | null {
  const m = /^zfs-(\d+\.\d+(?:\.\d+)?)/m.exec(text);
  return m ? m[1]! : null;
}

/**
 * What `zfs send -t` prints when the token itself can no longer be used (libzfs zfs_send_resume):
 * the snapshot it was made from is gone or replaced, or the token is damaged. Deliberately not the
 * generic "cannot resume send: <errno>" prefix: a broken pipe mid-stream prints that too, and then the
 * partial state is worth keeping.
 */
const UNUSABLE_TOKEN =
  /resume token is corrupt|is no longer the same snapshot|used in the initial send no longer exists|incremental source \S+ no longer exists/i;
/** `zfs recv` refusing a resume stream outright, as opposed to a cut stream it saved the partial state of. */
const RESUME_REFUSED = /cannot receive resume stream/i;
const PARTIAL_SAVED = /partially received snapshot is saved|incomplete stream/i;

/**
 * Whether a failed `zfs send -t … | zfs recv -s` means the interrupted receive can never be
 * resumed (then its partial state must be discarded, or the destination is stuck for good) rather
 * than that the link dropped again (then it is kept for the next run).
 */
export function resumeTokenUnusable(r: { sendStderr: string; sendCode: number | null; recvStderr: string; bytes: number }): boolean {
  if (UNUSABLE_TOKEN.test(r.sendStderr)) return true;
  if (RESUME_REFUSED.test(r.recvStderr) && !PARTIAL_SAVED.test(r.recvStderr)) return true;
  // An unknown complaint from the sender before a single byte: the token, not the link.
  return r.bytes === 0 && r.sendCode !== null && r.sendCode !== 0 && r.sendStderr.trim() !== '';
}

/**
 * Why ZFS cannot be used at all on a host, from a failed zfs command's exit code and stderr; null
 * when the failure is about the command itself (a missing dataset, a refused option…).
 */
export function zfsUnavailableReason(code: number | null, stderr: string): string | null {
  if (code === 127 && /ENOENT|not found/.test(stderr)) return 'the zfs command is not installed, or not on PATH';
  if (code === null || code === 0) return null;
  if (/modules are not loaded/i.test(stderr)) return 'the ZFS kernel module is not loaded (load it with: modprobe zfs)';
  if (/zfs-fuse daemon is running/i.test(stderr)) return 'the zfs-fuse daemon is not running (start it with: systemctl start zfs-fuse)';
  if (/\/dev\/zfs and \/proc\/self\/mounts are required/.test(stderr)) return '/dev/zfs or /proc is missing here (a container without them?)';
  if (/must be run as root|\/dev\/zfs.*(permission denied|not permitted)/i.test(stderr)) return 'this user may not use /dev/zfs (run zback as root)';
  if (/failed to initialize ZFS library/i.test(stderr)) return 'its library could not start';
  return null;
}
