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

function splitFields(line: string, n: number): string[] | null {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < n - 1; i++) {
    const tab = line.indexOf('\t', start);
    if (tab < 0) return null;
    out.push(line.slice(start, tab));
    start = tab + 1;
  }
  out.push(line.slice(start));
  return out;
}

function lines(text: string): string[] {
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

/** `zfs get -H -p -o name,property,value,source …` */
export function parsePropertyRows(text: string): PropertyRow[] {
  const rows: PropertyRow[] = [];
  for (const line of lines(text)) {
    // The value may contain tabs; name, property and source cannot. Split from both ends.
    const first = line.indexOf('\t');
    const second = line.indexOf('\t', first + 1);
    const last = line.lastIndexOf('\t');
    if (first < 0 || second < 0 || last <= second) throw new Error(`unexpected zfs get output line: ${JSON.stringify(line)}`);
    rows.push({
      name: line.slice(0, first),
      property: line.slice(first + 1, second),
      value: line.slice(second + 1, last),
      source: line.slice(last + 1),
    });
  }
  return rows;
}

export interface SnapshotInfo {
  /** The part after "@". */
  name: string;
  guid: string;
  createtxg: number;
  userrefs: number;
}

export interface DatasetInfo {
  name: string;
  guid: string;
  createtxg: number;
  /** In creation order (createtxg). */
  snapshots: SnapshotInfo[];
  /** OpenZFS: a token when an interrupted resumable receive left partial state. */
  resumeToken?: string;
}

export type Inventory = Map<string, DatasetInfo>;

/**
 * `zfs get -H -p -o name,property,value -r guid,createtxg,userrefs[,receive_resume_token] ROOTS…`:
 * three or four rows per dataset and snapshot, grouped into datasets with ordered snapshots.
 */
export function parseInventory(text: string): Inventory {
  const datasets: Inventory = new Map();
  const snaps = new Map<string, Partial<SnapshotInfo> & { dataset: string }>();
  for (const line of lines(text)) {
    const f = splitFields(line, 3);
    if (!f) throw new Error(`unexpected zfs get output line: ${JSON.stringify(line)}`);
    const [name, property, value] = f as [string, string, string];
    const at = name.indexOf('@');
    if (at < 0) {
      let d = datasets.get(name);
      if (!d) datasets.set(name, (d = { name, guid: '', createtxg: 0, snapshots: [] }));
      if (property === 'guid') d.guid = value;
      else if (property === 'createtxg') d.createtxg = Number(value);
      else if (property === 'receive_resume_token' && value !== '-' && value !== '') d.resumeToken = value;
      continue;
    }
    let s = snaps.get(name);
    if (!s) snaps.set(name, (s = { dataset: name.slice(0, at), name: name.slice(at + 1) }));
    if (property === 'guid') s.guid = value;
    else if (property === 'createtxg') s.createtxg = Number(value);
    else if (property === 'userrefs') s.userrefs = value === '-' ? 0 : Number(value);
  }
  for (const s of snaps.values()) {
    let d = datasets.get(s.dataset);
    if (!d) datasets.set(s.dataset, (d = { name: s.dataset, guid: '', createtxg: 0, snapshots: [] }));
    d.snapshots.push({ name: s.name!, guid: s.guid ?? '', createtxg: s.createtxg ?? 0, userrefs: s.userrefs ?? 0 });
  }
  for (const d of datasets.values()) d.snapshots.sort((a, b) => a.createtxg - b.createtxg || (a.name < b.name ? -1 : 1));
  return datasets;
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
