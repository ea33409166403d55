/**
 * Runs the commands of ./commands.ts on a Host and parses their output. The only way zback
 * talks to ZFS.
 */
import { CommandError } from '../errors.js';
import type { Host, RunResult } from '../transport/host.js';
import { parseHello, type SinkInfo } from '../sink/hello.js';
import { capabilitiesFor, type ZfsCapabilities } from './capabilities.js';
import * as cmd from './commands.js';
import {
  crossCheckRows,
  parseInventory,
  parseNameList,
  parseSendSize,
  parsePropertyRows,
  parsePropertyRowsValueFirst,
  parseZfsVersion,
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
    if (r.code === 127 && /ENOENT|not found/.test(r.stderr)) {
      throw new CommandError(cmd.versionCommand(), r.code, r.signal, `zfs is not installed or not on PATH: ${r.stderr}`, host.label);
    }
    return new Zfs(host, capabilitiesFor(r.code === 0 ? parseZfsVersion(r.stdout) : null), parseHello(r.stderr) ?? undefined);
  }

  private async check(argv: string[]): Promise<RunResult> {
    const r = await this.host.run(argv);
    if (r.code !== 0) throw new CommandError(argv, r.code, r.signal, r.stderr, this.host.label);
    return r;
  }

  /** zback's properties of every dataset, read twice and cross-checked (see crossCheckRows). */
  async config(properties: readonly string[]): Promise<{ rows: PropertyRow[]; unreadable: Set<string> }> {
    const read = async (valueFirst: boolean) => {
      const argv = cmd.configCommand(properties, this.caps, valueFirst);
      const r = await this.host.run(argv);
      // With no pool at all zfs says "no datasets available" and exits 0 or 1 depending on the port.
      if (r.code !== 0 && !/no datasets available/.test(r.stderr)) throw new CommandError(argv, r.code, r.signal, r.stderr, this.host.label);
      return valueFirst ? parsePropertyRowsValueFirst(r.stdout) : parsePropertyRows(r.stdout);
    };
    return crossCheckRows(await read(false), await read(true));
  }

  async inventory(roots: readonly string[]): Promise<Inventory> {
    if (roots.length === 0) return new Map();
    return parseInventory((await this.check(cmd.inventoryCommand(roots, this.caps))).stdout);
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

  async datasetProperties(dataset: string, properties: readonly string[]): Promise<PropertyRow[]> {
    return parsePropertyRows((await this.check(cmd.datasetPropertiesCommand(dataset, properties))).stdout);
  }
}
