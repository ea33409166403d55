/**
 * Options shared by every command, validated once: a bad option is a usage error (exit 2).
 */
import { readlinkSync } from 'node:fs';
import { InvalidValue, UsageError } from '../errors.js';
import { Calendar, systemTimeZone } from '../policy/calendar.js';
import { NameFormat } from '../policy/snapshot-names.js';
import { propertyNames, type PropertyNames } from '../policy/properties.js';

export interface GlobalArgs {
  prefix: string;
  timezone?: string;
  now?: string;
  'state-dir': string;
  'snapshot-format': string;
  verbose: boolean;
  json: boolean;
  'log-file'?: string;
}

export interface Context {
  properties: PropertyNames;
  calendar: Calendar;
  format: NameFormat;
  now: number;
  stateDir: string;
  verbose: boolean;
  json: boolean;
  logFile?: string;
}

/** `--now` takes an ISO 8601 time with an explicit zone (Z or ±hh:mm), so it is never ambiguous. */
export function parseNow(text: string): number {
  const s = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s)) {
    throw new UsageError(`--now ${JSON.stringify(text)}: expected an ISO 8601 time with a zone, such as 2026-03-29T01:30:00Z or 2026-03-29T03:30:00+02:00`);
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`--now ${JSON.stringify(text)} is not a valid date`);
  return t;
}

export function buildContext(args: GlobalArgs): Context {
  const wrap = <T>(option: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof InvalidValue) throw new UsageError(`--${option}: ${e.message}`);
      throw e;
    }
  };
  return {
    properties: wrap('prefix', () => propertyNames(args.prefix)),
    calendar: wrap('timezone', () => new Calendar(args.timezone || systemTimeZone({ tz: process.env.TZ, localtime: localtimeLink }))),
    format: wrap('snapshot-format', () => new NameFormat(args['snapshot-format'])),
    now: args.now ? parseNow(args.now) : Date.now(),
    stateDir: args['state-dir'],
    verbose: args.verbose,
    json: args.json,
    ...(args['log-file'] ? { logFile: args['log-file'] } : {}),
  };
}

/** Where /etc/localtime points (…/zoneinfo/Europe/Berlin), or null: the system's zone without ICU. */
function localtimeLink(): string | null {
  try {
    return readlinkSync('/etc/localtime');
  } catch {
    return null;
  }
}
