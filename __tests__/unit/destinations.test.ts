import { describe, expect, test } from '@jest/globals';
import { InvalidValue } from '../../lib/errors.js';
import { destinationHostLabel, destinationPathFor, parseDestination, parseDestinations, type Destination } from '../../lib/policy/destinations.js';

function err(text: string): string {
  try {
    parseDestinations(text);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidValue);
    return (e as Error).message;
  }
  throw new Error(`parseDestinations(${JSON.stringify(text)}) did not throw`);
}

/** The fields that matter, without the `text` echo and with the cron only. */
function shape(d: Destination) {
  const o: Record<string, unknown> = { path: d.path, cron: d.schedule.cron };
  if (d.host !== undefined) o.host = d.host;
  if (d.user !== undefined) o.user = d.user;
  if (d.port !== undefined) o.port = d.port;
  if (d.retention !== undefined) o.retention = d.retention;
  return o;
}

describe('parseDestinations: valid forms', () => {
  test('empty value → no destinations', () => {
    expect(parseDestinations('')).toEqual([]);
    expect(parseDestinations('   ')).toEqual([]);
  });

  test('the documented example', () => {
    const [d, ...rest] = parseDestinations('dest-srv:OFFSITE/client/server/projects|hourly');
    expect(rest).toEqual([]);
    expect(d).toEqual({
      text: 'dest-srv:OFFSITE/client/server/projects|hourly',
      host: 'dest-srv',
      path: 'OFFSITE/client/server/projects',
      schedule: { text: 'hourly', cron: '0 * * * *', unit: 'h' },
    });
  });

  test.each<[string, Record<string, unknown>]>([
    ['backup/zback|daily', { path: 'backup/zback', cron: '0 0 * * *' }],
    ['backup/x|weekly', { path: 'backup/x', cron: '0 0 * * 1' }],
    ['host:pool/m|monthly', { host: 'host', path: 'pool/m', cron: '0 0 1 * *' }],
    ['root@host:pool/x|Daily', { user: 'root', host: 'host', path: 'pool/x', cron: '0 0 * * *' }],
    ['zb-ack.user@backup.example.com:2222:pool/x|daily', { user: 'zb-ack.user', host: 'backup.example.com', port: 2222, path: 'pool/x', cron: '0 0 * * *' }],
    ['host:1:pool/x|daily', { host: 'host', port: 1, path: 'pool/x', cron: '0 0 * * *' }],
    ['host:65535:pool/x|daily', { host: 'host', port: 65535, path: 'pool/x', cron: '0 0 * * *' }],
    ['10.0.0.7:pool/x|daily', { host: '10.0.0.7', path: 'pool/x', cron: '0 0 * * *' }],
    ['[::1]:pool/x|daily', { host: '[::1]', path: 'pool/x', cron: '0 0 * * *' }],
    ['[2001:db8::7]:2222:pool/x|hourly', { host: '[2001:db8::7]', port: 2222, path: 'pool/x', cron: '0 * * * *' }],
    ['admin@[fe80::1]:pool/x|daily', { user: 'admin', host: '[fe80::1]', path: 'pool/x', cron: '0 0 * * *' }],
    ['host:pool/with space/a.b_c-d:e|daily', { host: 'host', path: 'pool/with space/a.b_c-d:e', cron: '0 0 * * *' }],
    ['ssh_alias:pool/x|daily', { host: 'ssh_alias', path: 'pool/x', cron: '0 0 * * *' }],
    ['  host:pool/x | daily | 7d  ', { host: 'host', path: 'pool/x', cron: '0 0 * * *', retention: { h: 0, d: 7, w: 0, m: 0, y: 0 } }],
    ['host:pool/x|hourly|24h30d0w3m', { host: 'host', path: 'pool/x', cron: '0 * * * *', retention: { h: 24, d: 30, w: 0, m: 3, y: 0 } }],
    ['host:pool/x|*/15 * * * *', { host: 'host', path: 'pool/x', cron: '*/15 * * * *' }],
  ])('%j', (text, expected) => {
    const list = parseDestinations(text);
    expect(list).toHaveLength(1);
    expect(shape(list[0]!)).toEqual(expected);
  });

  test('several destinations, with commas inside cron expressions', () => {
    const list = parseDestinations('a:pool/x|0 0,12 * * *,b:pool/y|0 0 * * MON,WED|7d,local/copy|daily,c:pool/z|0 0 1,15 * *|2m,d:pool/w|0 0 * * 1,3');
    expect(list.map(shape)).toEqual([
      { host: 'a', path: 'pool/x', cron: '0 0,12 * * *' },
      { host: 'b', path: 'pool/y', cron: '0 0 * * MON,WED', retention: { h: 0, d: 7, w: 0, m: 0, y: 0 } },
      { path: 'local/copy', cron: '0 0 * * *' },
      { host: 'c', path: 'pool/z', cron: '0 0 1,15 * *', retention: { h: 0, d: 0, w: 0, m: 2, y: 0 } },
      { host: 'd', path: 'pool/w', cron: '0 0 * * 1,3' },
    ]);
    expect(list[1]!.text).toBe('b:pool/y|0 0 * * MON,WED|7d');
  });

  test('cron with commas as the last destination and month names', () => {
    const list = parseDestinations('a:p/x|daily,b:p/y|0 0 1 JAN,JUL *');
    expect(list.map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0 * * *' },
      { host: 'b', path: 'p/y', cron: '0 0 1 JAN,JUL *' },
    ]);
    expect(parseDestinations('a:p/x|0 0 * * MON-FRI,SUN|7d')[0]!.schedule.cron).toBe('0 0 * * MON-FRI,SUN');
  });

  test('bwlimit=RATE after the schedule or the retention; 0 is no limit; K M G T are powers of 1024', () => {
    expect(parseDestinations('a:p/x|daily|bwlimit=20M')[0]).toMatchObject({ host: 'a', path: 'p/x', bwlimit: 20 * 1024 ** 2 });
    expect(parseDestinations('a:p/x|daily|7d|bwlimit=1.5g')[0]).toMatchObject({ bwlimit: 1.5 * 1024 ** 3, retention: { d: 7 } });
    expect(parseDestinations('a:p/x|daily|7d|bwlimit=0')[0]!.bwlimit).toBeUndefined();
    expect(parseDestinations('a:p/x|daily|bwlimit=2048')[0]!.bwlimit).toBe(2048);
    // A cron schedule with commas, then options: the comma still belongs to the schedule.
    const [d] = parseDestinations('a:p/x|0 0,12 * * *|bwlimit=512K');
    expect([d!.schedule.cron, d!.bwlimit]).toEqual(['0 0,12 * * *', 512 * 1024]);
  });

  test('the same path on different hosts, users or ports is not a duplicate', () => {
    expect(parseDestinations('a:p/x|daily,b:p/x|daily,p/x|daily,u@a:p/x|daily,a:2222:p/x|daily')).toHaveLength(5);
  });
});

describe('parseDestinations: malformed values are rejected with what is wrong', () => {
  test.each<[string, RegExp]>([
    ['host:pool/x', /has no schedule/],
    ['host:pool/x|', /empty schedule/],
    ['|daily', /has no target before "\|"/],
    ['host:pool/x|daily|7d|extra', /after the schedule come a retention and options/],
    ['host:pool/x|daily|bwlimit=1M|7d', /after the schedule come a retention and options \(bwlimit=RATE\), each at most once and in that order/],
    ['host:pool/x|daily|7d|bwlimit=1M|bwlimit=2M', /each at most once and in that order/],
    ['host:pool/x|daily|7d|', /after the schedule come a retention and options/],
    ['host:pool/x|daily|bwlimit=20M fast', /unknown option "fast"/],
    ['host:pool/x|daily|bwlimit=20mbit', /destination "host:pool\/x": bwlimit: "20mbit" is not a rate: give bytes per second with K, M, G or T/],
    ['host:pool/x|daily|bwlimit=100', /bwlimit: "100" is below 1K \(1 KiB\/s\); write 0 for no limit/],
    ['host:pool/x|daily|bwlimit=', /bwlimit: "" is not a rate/],
    ['host:pool/x|daily|speed=1M', /unknown option "speed=1M" \(the only option is bwlimit=RATE\)/],
    ['host:pool/x|daily|bwlimit = 1M', /write options without spaces around "=", e.g. bwlimit=20M/],
    ['host:pool/x|daily|bwlimit=1M bwlimit=2M', /bwlimit is given twice/],
    [`host:pool/x|daily|bwlimit=${'9'.repeat(400)}`, /is too large a rate/],
    ['host:pool/x|sometimes', /unknown schedule "sometimes"/],
    ['host:pool/x|0 0 * *', /got 4 fields/],
    ['host:pool/x|61 * * * *', /bad cron expression/],
    ['host:pool/x|H * * * *', /"H" field is not supported/],
    ['host:pool/x|daily|7x', /destination "host:pool\/x": retention "7x": unknown unit "x"/],
    ['host:pool/x|daily|0d', /every count is 0/],
    ['host:pool/x|daily|', /empty retention/],
    [':pool/x|daily', /the host in ":pool\/x" is empty/],
    ['host:|daily', /destination path "": the dataset name is empty/],
    ['host:backup|daily', /the root dataset of pool "backup" cannot receive a copy/],
    ['backup|daily', /the root dataset of pool "backup" cannot receive a copy/],
    ['host:0:pool/x|daily', /port 0 is not between 1 and 65535/],
    ['user@host:99999:pool/x|daily', /port 99999 is not between 1 and 65535/],
    ['host:pool/x|daily,host:pool/x|hourly', /"host:pool\/x\|hourly" is listed twice/],
    ['pool/x|daily,pool/x|weekly', /listed twice/],
    ['host:pool/x|daily,', /empty destination between commas/],
    ['host:pool/x|daily,,b:pool/y|daily', /empty destination between commas/],
    ['host:1pool/x|daily', /pool name must begin with a letter/],
    ['host:mirror/x|daily', /"mirror" is a reserved pool name/],
    ['host:pool/x/|daily', /cannot begin or end with "\/"/],
    ['host:pool/./x|daily', /component "\."/],
    ['host:pool/../x|daily', /component "\.\."/],
    [`host:pool/${'x'.repeat(260)}|daily`, /longer than 255/],
  ])('%j', (text, re) => {
    expect(err(text)).toMatch(re);
  });
});

describe('parseDestinations: hostile values never get through', () => {
  test.each<[string, RegExp]>([
    ['host:pool/x;touch owned|daily', /destination path "pool\/x;touch owned": invalid character ";"/],
    ['host:pool/$(id)|daily', /invalid character "\$"/],
    ['host:pool/x`id`|daily', /invalid character "`"/],
    ['host:pool/x&&id|daily', /invalid character "&"/],
    ['host:pool/x>y|daily', /invalid character ">"/],
    ["host:pool/x'y|daily", /invalid character "'"/],
    ['host:pool/x\ny|daily', /invalid character "\\n"/],
    ['ho;st:pool/x|daily', /"ho;st" is not a valid host name/],
    ['h$(id):pool/x|daily', /is not a valid host name/],
    ['h`id`:pool/x|daily', /is not a valid host name/],
    ['-oProxyCommand=x:pool/x|daily', /"-oProxyCommand=x" is not a valid host name/],
    ['-host:pool/x|daily', /"-host" is not a valid host name/],
    ['host-:pool/x|daily', /"host-" is not a valid host name/],
    ['-oProxyCommand=x@host:pool/x|daily', /"-oProxyCommand=x" is not a valid user name/],
    ['us;er@host:pool/x|daily', /"us;er" is not a valid user name/],
    ['@host:pool/x|daily', /"" is not a valid user name/],
    ['[::1;id]:pool/x|daily', /is not a valid host name/],
    ['[fe80::1%eth0]:pool/x|daily', /is not a valid host name/],
    ['user@host:99999:pool/x|daily', /port 99999/],
    ['host:pool/x@snap|daily', /cannot contain "@"/],
    ['host:pool/x#mark|daily', /cannot contain "#"/],
    ['host:pool//x|daily', /empty component \("\/\/"\)/],
    ['host:/pool/x|daily', /cannot begin or end with "\/"/],
    ['/pool/x|daily', /cannot begin or end with "\/"/],
    ['host:pool/ x|daily', /cannot begin or end with a space/],
    // "local" is this machine in zback's records: a host reached by that name would merge with it.
    ['local:pool/x|daily', /the host name "local" means this machine in zback's records: reach that host under another name/],
  ])('%j', (text, re) => {
    expect(err(text)).toMatch(re);
  });

  test('a hostile entry after a good one fails the whole value', () => {
    expect(err('good:pool/x|daily,bad:pool/$(id)|daily')).toMatch(/invalid character "\$"/);
  });
});

describe('parseDestination and helpers', () => {
  test('parseDestination parses one entry', () => {
    expect(shape(parseDestination('u@h:22:p/x|hourly|48h'))).toEqual({
      user: 'u',
      host: 'h',
      port: 22,
      path: 'p/x',
      cron: '0 * * * *',
      retention: { h: 48, d: 0, w: 0, m: 0, y: 0 },
    });
  });
  test('destinationPathFor maps children under the destination path', () => {
    const [d] = parseDestinations('dest-srv:OFFSITE/client/server/projects|hourly');
    expect(destinationPathFor(d!, 'STORAGE/projects', 'STORAGE/projects')).toBe('OFFSITE/client/server/projects');
    expect(destinationPathFor(d!, 'STORAGE/projects', 'STORAGE/projects/web')).toBe('OFFSITE/client/server/projects/web');
    expect(destinationPathFor(d!, 'STORAGE/projects', 'STORAGE/projects/web/a b')).toBe('OFFSITE/client/server/projects/web/a b');
  });
  test('destinationHostLabel', () => {
    const [a, b, c, d] = parseDestinations('p/x|daily,h:p/x|daily,u@h:p/y|daily,u@h:2222:p/z|daily');
    expect(destinationHostLabel(a!)).toBe('local');
    expect(destinationHostLabel(b!)).toBe('h');
    expect(destinationHostLabel(c!)).toBe('u@h');
    expect(destinationHostLabel(d!)).toBe('u@h:2222');
  });
});

describe('parseDestinations: a later entry is recognised like the first one', () => {
  test('a path with a space after a comma', () => {
    expect(parseDestinations('b:p/my data|daily').map(shape)).toEqual([{ host: 'b', path: 'p/my data', cron: '0 0 * * *' }]);
    expect(parseDestinations('a:p/x|daily,b:p/my data|daily').map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0 * * *' },
      { host: 'b', path: 'p/my data', cron: '0 0 * * *' },
    ]);
    expect(parseDestinations('a:p/x|0 0,12 * * *,b:p/my data|daily').map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0,12 * * *' },
      { host: 'b', path: 'p/my data', cron: '0 0 * * *' },
    ]);
  });
  test('a local pool named like a month after a comma (a preset schedule cannot continue)', () => {
    expect(parseDestinations('a:p/x|daily,may/x|daily').map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0 * * *' },
      { path: 'may/x', cron: '0 0 * * *' },
    ]);
  });
  test('after a cron expression, day names and steps continue it', () => {
    expect(parseDestinations('a:p/x|0 0 * * MON,WED|7d,b:p/y|daily').map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0 * * MON,WED', retention: { h: 0, d: 7, w: 0, m: 0, y: 0 } },
      { host: 'b', path: 'p/y', cron: '0 0 * * *' },
    ]);
    expect(parseDestinations('a:p/x|0 0 * * 1,3/2|7d').map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0 * * 1,3/2', retention: { h: 0, d: 7, w: 0, m: 0, y: 0 } },
    ]);
  });
  test('space after the comma, upper-case names, a local path beginning with a day name', () => {
    expect(parseDestinations('a:p/x|daily, b:p/y|daily').map((d) => d.host)).toEqual(['a', 'b']);
    expect(parseDestinations('a:p/x|daily,sat/backup|daily').map(shape)).toEqual([
      { host: 'a', path: 'p/x', cron: '0 0 * * *' },
      { path: 'sat/backup', cron: '0 0 * * *' },
    ]);
  });
});

test('a host called "local" with a user or a port is its own host, never this machine', () => {
  for (const text of ['root@local:pool/x|daily', 'local:2222:pool/x|daily']) {
    const [d] = parseDestinations(text);
    expect(destinationHostLabel(d!)).not.toBe('local');
  }
});
