/**
 * Runs the commands of ./commands.ts on a Host and parses their output. The only way zback
 * talks to ZFS.
 */
import { CommandError, ZfsUnavailable } from '../errors.js';
import type { Host, RunResult } from '../transport/host.js';
import { parseHello, type SinkInfo } from '../sink/hello.js';
import { capabilitiesFor, type PoolFeatures, type ZfsCapabilities } from './capabilities.js';
import { parseResumeTokenInfo, type ResumeTokenInfo } from './resume-token.js';
import * as cmd from './commands.js';
import {
  crossCheckRows,
  parseInventory,
  parseNameList,
  parsePoolFeatures,
  parseSendSize,
  parsePropertyRows,
  parsePropertyRowsValueFirst,
  parseZfsVersion,
  zfsUnavailableReason,
  type Inventory,
  type PropertyRow,
} from './parse.js';

export class Zfs {
  constructor(
    readonly host: Host,
    readonly caps: ZfsCapabilities,
    /** The host is a restricted sink (zback sink) with these rules. */
    readonly sink?: SinkInfo,
  ) {}

  static async detect(host: Host): Promise<Zfs> {
    const r = await host.run(cmd.versionCommand());
    // No exit status: it was stopped (deadline) or the connection went; not an old ZFS.
    if (r.code === null) throw new CommandError(cmd.versionCommand(), r.code, r.signal, r.stderr, host.label);
    // Old ports have no `zfs version` (a usage error): they fail it as they fail any command when
    // ZFS is not running at all, which is said here in one line for every command of zback.
    const unavailable = zfsUnavailableReason(r.code, r.stderr);
    if (unavailable) throw new ZfsUnavailable(host.label, unavailable, r.code === 127 ? '' : r.stderr);
    return new Zfs(host, capabilitiesFor(r.code === 0 ? parseZfsVersion(r.stdout) : null), parseHello(r.stderr) ?? undefined);
  }

  /**
   * The stream-related features of these pools (OpenZFS: one `zpool get`); an empty map on an old
   * ZFS (pool versions, no features) and when the command fails (then no stream option is used).
   */
  async poolFeatures(pools: readonly string[]): Promise<PoolFeatures> {
    if (!this.caps.openzfs || pools.length === 0) return new Map();
    const r = await this.host.run(cmd.poolFeaturesCommand([...new Set(pools)].sort()));
    // A stopped command (deadline, connection) is the host's problem; anything else is "unknown".
    if (r.code === null) throw new CommandError(cmd.poolFeaturesCommand(pools), r.code, r.signal, r.stderr, this.host.label);
    return r.code === 0 ? parsePoolFeatures(r.stdout) : new Map();
  }

  private async check(argv: string[]): Promise<RunResult> {
    const r = await this.host.run(argv);
    if (r.code !== 0) throw new CommandError(argv, r.code, r.signal, r.stderr, this.host.label);
    return r;
  }

  /**
   * zback's properties of every dataset, read twice and cross-checked (see crossCheckRows). A
   * forged line break in one dataset's value can fake rows of others and make them disagree too,
   * so each dataset the readings disagree on (normally none: then this is two commands) is read
   * again alone (configOf). Only a dataset whose own values are ambiguous stays unreadable: whoever
   * may set zback's properties on one dataset cannot take others out of zback.
   */
  async config(properties: readonly string[]): Promise<{ rows: PropertyRow[]; unreadable: Set<string> }> {
    const read = async (valueFirst: boolean) => {
      const argv = cmd.configCommand(properties, this.caps, valueFirst);
      const r = await this.host.run(argv);
      // With no pool at all zfs says "no datasets available" and exits 0 or 1 depending on the port.
      if (r.code !== 0 && !/no datasets available/.test(r.stderr)) throw new CommandError(argv, r.code, r.signal, r.stderr, this.host.label);
      return r.stdout;
    };
    const nameFirst = await read(false);
    const valueFirst = await read(true);
    let rows: PropertyRow[] = [];
    let unreadable = new Set<string>();
    let suspects: string[] | null = null;
    try {
      ({ rows, unreadable } = crossCheckRows(parsePropertyRows(nameFirst), parsePropertyRowsValueFirst(valueFirst)));
      // Snapshots are never configured (resolveConfigs skips them): not worth a command.
      suspects = [...unreadable].filter((name) => !name.includes('@'));
      if (suspects.length === 0) return { rows, unreadable };
    } catch {
      // A forged value can make a whole reading unparseable: then every dataset is a suspect.
    }
    // A forged row may name a dataset that does not exist: nothing to configure there, no error.
    const exist = new Set(await this.listDatasets());
    for (const dataset of suspects ?? exist) {
      unreadable.delete(dataset);
      if (!exist.has(dataset)) continue;
      const own = await this.configOf(properties, dataset);
      if (own) rows.push(...own);
      else unreadable.add(dataset);
    }
    return { rows, unreadable };
  }

  /**
   * One dataset's properties read alone (no other dataset's value is in that output to forge its
   * rows), both ways; null unless both readings parse, agree and name only that dataset.
   */
  private async configOf(properties: readonly string[], dataset: string): Promise<PropertyRow[] | null> {
    const text: string[] = [];
    for (const valueFirst of [false, true]) {
      const r = await this.host.run(cmd.datasetConfigCommand(properties, dataset, valueFirst));
      if (r.code !== 0) return null; // destroyed since the recursive reading, say: stays unreadable
      text.push(r.stdout);
    }
    try {
      const { rows, unreadable } = crossCheckRows(parsePropertyRows(text[0]!), parsePropertyRowsValueFirst(text[1]!));
      return unreadable.size === 0 && rows.every((r) => r.name === dataset) ? rows : null;
    } catch {
      return null; // its own value makes a reading unparseable
    }
  }

  async inventory(roots: readonly string[], withCreation = false, withBookmarks = false): Promise<Inventory> {
    if (roots.length === 0) return new Map();
    return parseInventory((await this.check(cmd.inventoryCommand(roots, this.caps, withCreation, withBookmarks))).stdout);
  }

  /**
   * Fill in `encryption` where the inventory did not show it (SPEC §10: detection fails closed).
   * What is still unknown afterwards stays undefined, and such a dataset is not sent.
   */
  async readMissingEncryption(inventory: Inventory, datasets: readonly string[]): Promise<void> {
    const missing = datasets.filter((d) => inventory.get(d) && inventory.get(d)!.encryption === undefined);
    if (!this.caps.encryption || missing.length === 0) return;
    const r = await this.host.run(cmd.encryptionCommand(missing));
    for (const line of r.stdout.split('\n')) {
      const [name, value] = line.split('\t');
      const d = name ? inventory.get(name) : undefined;
      if (d && value && value !== '-' && missing.includes(name!)) d.encryption = value;
    }
  }

  /** The marks on the copies below a backup host's root (null: on every dataset here), read twice and cross-checked. */
  async copyMarks(root: string | null, properties: readonly string[]): Promise<{ rows: PropertyRow[]; unreadable: Set<string> }> {
    const nameFirst = parsePropertyRows((await this.check(cmd.copyMarksCommand(root, properties, false, this.caps))).stdout);
    const valueFirst = parsePropertyRowsValueFirst((await this.check(cmd.copyMarksCommand(root, properties, true, this.caps))).stdout);
    return crossCheckRows(nameFirst, valueFirst);
  }

  /** The space each dataset uses (bytes); datasets gone meanwhile are left out. */
  async used(datasets: readonly string[]): Promise<Map<string, number>> {
    const used = new Map<string, number>();
    if (datasets.length === 0) return used;
    const r = await this.host.run(cmd.usedCommand(datasets));
    const asked = new Set(datasets);
    for (const line of r.stdout.split('\n')) {
      const [name, value] = line.split('\t');
      if (name && value && /^\d+$/.test(value) && asked.has(name)) used.set(name, Number(value));
    }
    return used;
  }

  async listDatasets(): Promise<string[]> {
    const r = await this.host.run(cmd.listDatasetsCommand());
    if (r.code !== 0 && !/no datasets available/.test(r.stderr)) {
      throw new CommandError(cmd.listDatasetsCommand(), r.code, r.signal, r.stderr, this.host.label);
    }
    return parseNameList(r.stdout);
  }

  /** Run a command built by ./commands.ts that changes something; throws CommandError on failure. */
  async exec(argv: string[]): Promise<void> {
    await this.check(argv);
  }

  /** The size a send will have, where the ZFS can tell (OpenZFS `send -nP`); null otherwise. */
  async sendSize(sendArgv: readonly string[]): Promise<number | null> {
    if (!this.caps.sendEstimate) return null;
    const r = await this.host.run(cmd.sendEstimateCommand(sendArgv));
    return r.code === 0 ? parseSendSize(r.stdout) : null;
  }

  /** What a resume token names, decoded here (`zfs send -nvt`); null when this ZFS cannot tell. */
  async decodeResumeToken(token: string): Promise<ResumeTokenInfo | null> {
    if (!this.caps.resumableReceive) return null;
    let argv: string[];
    try {
      argv = cmd.resumeTokenInfoCommand(token);
    } catch {
      return null;
    }
    const r = await this.host.run(argv);
    // Not only on exit 0: a token whose snapshot is gone exits 255 yet prints its contents and
    // OpenZFS's complaint, which the check then reports. Undecodable output parses to null.
    return parseResumeTokenInfo(r.stdout, r.stderr);
  }

  async datasetProperties(dataset: string, properties: readonly string[]): Promise<PropertyRow[]> {
    return parsePropertyRows((await this.check(cmd.datasetPropertiesCommand(dataset, properties))).stdout);
  }
}
