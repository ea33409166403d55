/**
 * `org.wit:destinations`: a comma list of `[user@]host[:port]:pool/path|schedule[|retention][|options]`,
 * where options are `key=value` words (today only `bwlimit=RATE`).
 * No `host:` part means a pool on this machine. The schedule may be a cron expression, which can
 * itself contain commas (`0 0,12 * * *`), so a comma only starts a new destination when what
 * follows looks like a target (see `startsDestination`).
 */
import { hostLabel } from '../transport/target.js';
import { InvalidValue } from '../errors.js';
import { datasetNameProblem } from '../zfs/dataset-names.js';
import { parseRate } from './rate.js';
import { parseRetention, type Retention } from './retention.js';
import { parseSchedule, type Schedule } from './schedule.js';

export interface Destination {
  /** The entry as written, for messages. */
  text: string;
  /** Undefined for a pool on this machine. */
  host?: string;
  user?: string;
  port?: number;
  /** Dataset path on the destination (for the dataset that sets the property). */
  path: string;
  schedule: Schedule;
  /** Retention on the destination; undefined means the source's. */
  retention?: Retention;
  /** `bwlimit=RATE`: bytes per second at most on the link to this destination's host. */
  bwlimit?: number;
}

/** Host names (and ssh_config aliases): letters, digits, dots, dashes, underscores; or [IPv6]. */
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$/;
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const DAY_OR_MONTH =
  /^(MON|TUE|WED|THU|FRI|SAT|SUN|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(-(MON|TUE|WED|THU|FRI|SAT|SUN|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))?$/i;

/** What the target part of an entry looks like: `host:…`, `pool/…` or a bare pool name. */
function looksLikeTarget(target: string): boolean {
  if (/^[^\s|:]+:/.test(target)) return true; // [user@]host[:port]:path — cron never has ":"
  if (/^[A-Za-z][^\s/|]*\//.test(target)) return true; // pool/path — cron steps (*/2, 3/2) do not start with a letter
  return /^[A-Za-z][A-Za-z0-9_.:-]*$/.test(target); // a bare local pool
}

/**
 * Whether a comma-separated piece continues the previous entry's cron expression (`0 0,12 * * *`,
 * `0 0 * * MON,WED`) rather than beginning a new destination. Only a cron schedule with no
 * retention after it yet can continue; then the piece continues it unless it looks like a
 * target — except a bare day or month name, which in that position is a cron list item.
 */
function continuesCron(previous: string, piece: string): boolean {
  const parts = previous.split('|');
  if (parts.length !== 2 || !/\s/.test(parts[1]!.trim())) return false;
  const bar = piece.indexOf('|');
  const target = (bar < 0 ? piece : piece.slice(0, bar)).trim();
  if (bar < 0) return true;
  if (DAY_OR_MONTH.test(target)) return true;
  return !looksLikeTarget(target);
}

function splitEntries(text: string): string[] {
  const entries: string[] = [];
  for (const piece of text.split(',')) {
    if (entries.length > 0 && continuesCron(entries[entries.length - 1]!, piece)) entries[entries.length - 1] += ',' + piece;
    else entries.push(piece);
  }
  return entries.map((e) => e.trim());
}

function parseTarget(target: string): Pick<Destination, 'host' | 'user' | 'port' | 'path'> {
  // "[user@]host[:port]:path", or just "path". A path may itself contain ":", so the host is what
  // precedes the first ":" — unless that contains "/", in which case the whole thing is a path.
  let rest = target;
  let user: string | undefined;
  let host: string | undefined;
  let port: number | undefined;
  const bracket = /^(?:([^@/:\s]+)@)?(\[[^\]]*\]):(.*)$/.exec(rest);
  const colon = rest.indexOf(':');
  if (bracket) {
    user = bracket[1];
    host = bracket[2];
    rest = bracket[3]!;
  } else if (colon >= 0 && !rest.slice(0, colon).includes('/')) {
    const hostPart = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
    const at = hostPart.lastIndexOf('@');
    if (at >= 0) {
      user = hostPart.slice(0, at);
      host = hostPart.slice(at + 1);
    } else {
      host = hostPart;
    }
  }
  if (host !== undefined) {
    const portMatch = /^(\d+):(.*)$/.exec(rest);
    if (portMatch) {
      port = Number(portMatch[1]);
      rest = portMatch[2]!;
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidValue(`port ${portMatch[1]} is not between 1 and 65535`);
    }
    if (host === '') throw new InvalidValue(`the host in ${JSON.stringify(target)} is empty`);
    if (!HOST.test(host)) throw new InvalidValue(`${JSON.stringify(host)} is not a valid host name (letters, digits, ".", "-", "_" only)`);
    if (user !== undefined && !USER.test(user)) throw new InvalidValue(`${JSON.stringify(user)} is not a valid user name`);
    // zback's records and reports call this machine "local" (destinationHostLabel): a host reached
    // as plain "local" would be taken for it, and its copies made here.
    if (host === 'local' && user === undefined && port === undefined) {
      throw new InvalidValue(
        `the host name "local" means this machine in zback's records: reach that host under another name (its address, or an alias in ~/.ssh/config), or leave out "local:" for a pool on this machine`,
      );
    }
  }
  const problem = datasetNameProblem(rest);
  if (problem) throw new InvalidValue(`destination path ${JSON.stringify(rest)}: ${problem}`);
  if (!rest.includes('/')) {
    // Receiving a full stream into an existing dataset needs `zfs recv -F` (overwrite), which zback
    // never uses; a pool's root always exists, so it could never be seeded.
    throw new InvalidValue(`the root dataset of pool ${JSON.stringify(rest)} cannot receive a copy; name a dataset inside it, e.g. ${rest}/<name>`);
  }
  const out: Pick<Destination, 'host' | 'user' | 'port' | 'path'> = { path: rest };
  if (host !== undefined) out.host = host;
  if (user !== undefined) out.user = user;
  if (port !== undefined) out.port = port;
  return out;
}

/** The options part of an entry: `bwlimit=20M` (words separated by spaces). */
function parseOptions(target: string, text: string): Pick<Destination, 'bwlimit'> {
  const out: Pick<Destination, 'bwlimit'> = {};
  if (/\s=|=\s/.test(text.trim())) throw new InvalidValue(`destination ${JSON.stringify(target)}: write options without spaces around "=", e.g. bwlimit=20M`);
  const seen = new Set<string>();
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (seen.has(key)) throw new InvalidValue(`destination ${JSON.stringify(target)}: ${key} is given twice`);
    seen.add(key);
    if (key === 'bwlimit' && eq < 0) throw new InvalidValue(`destination ${JSON.stringify(target)}: bwlimit needs a rate, e.g. bwlimit=20M`);
    if (key === 'bwlimit') {
      try {
        const rate = parseRate(value);
        if (rate !== null) out.bwlimit = rate;
      } catch (e) {
        throw new InvalidValue(`destination ${JSON.stringify(target)}: bwlimit: ${(e as Error).message}`);
      }
    } else throw new InvalidValue(`destination ${JSON.stringify(target)}: unknown option ${JSON.stringify(word)} (the only option is bwlimit=RATE)`);
  }
  return out;
}

export function parseDestination(entry: string): Destination {
  if (entry.trim() === '') throw new InvalidValue('an empty destination between commas (a stray ","?)');
  const parts = entry.split('|');
  if (parts.length < 2) {
    throw new InvalidValue(`destination ${JSON.stringify(entry)} has no schedule: write [user@]host[:port]:pool/path|schedule[|retention][|bwlimit=RATE]`);
  }
  const target = parts[0]!.trim();
  if (target === '') throw new InvalidValue(`destination ${JSON.stringify(entry)} has no target before "|"`);
  // After the schedule: a retention, options (key=value words), or both in that order.
  const rest = parts.slice(2);
  if (rest.some((p) => /^\s*bwlimit\s*$/.test(p))) throw new InvalidValue(`destination ${JSON.stringify(target)}: bwlimit needs a rate, e.g. bwlimit=20M`);
  const optionsAt = rest.findIndex((p) => p.includes('='));
  const retentionText = optionsAt === 0 ? undefined : rest[0];
  if (parts.length > 4 || (optionsAt >= 0 && optionsAt !== rest.length - 1) || (optionsAt < 0 && rest.length > 1)) {
    throw new InvalidValue(
      `destination ${JSON.stringify(entry)}: after the schedule come a retention and options (bwlimit=RATE), each at most once and in that order`,
    );
  }
  let schedule: Schedule;
  let retention: Retention | undefined;
  try {
    schedule = parseSchedule(parts[1]!);
  } catch (e) {
    throw new InvalidValue(`destination ${JSON.stringify(target)}: ${(e as Error).message}`);
  }
  if (retentionText !== undefined) {
    try {
      retention = parseRetention(retentionText);
    } catch (e) {
      throw new InvalidValue(`destination ${JSON.stringify(target)}: retention ${JSON.stringify(retentionText)}: ${(e as Error).message}`);
    }
  }
  const d: Destination = { text: entry, ...parseTarget(target), schedule, ...(optionsAt >= 0 ? parseOptions(target, rest[optionsAt]!) : {}) };
  if (retention) d.retention = retention;
  return d;
}

export function parseDestinations(text: string): Destination[] {
  if (text.trim() === '') return [];
  const list = splitEntries(text).map(parseDestination);
  const seen = new Set<string>();
  for (const d of list) {
    const key = `${d.user ?? ''}@${d.host ?? ''}:${d.port ?? ''}:${d.path}`;
    if (seen.has(key)) throw new InvalidValue(`destination ${JSON.stringify(d.text)} is listed twice`);
    seen.add(key);
  }
  return list;
}

/** The destination path for a child that inherits the property from `origin`. */
export function destinationPathFor(d: Destination, origin: string, dataset: string): string {
  return dataset === origin ? d.path : d.path + dataset.slice(origin.length);
}

/** "user@host:port" or "local", for messages and grouping (the transport's own label of the host). */
export function destinationHostLabel(d: Destination): string {
  return hostLabel(d);
}
