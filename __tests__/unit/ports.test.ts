/**
 * The executor's ports (lib/execute/ports.ts): each action kind run against scripted Hosts, which
 * answer as zfs does and stream like `zfs send` / `zfs recv` (unit tests only: the integration
 * tests run the same code on real ZFS). Every failure branch of a port: a snapshot group that
 * falls back one by one, a destroy that meets a clone, holds and releases that fail alone or in a
 * batch (the hold ledger follows ZFS exactly), a receive that fails after the stream started, a
 * resume whose token is unusable, a signal in the middle of a send.
 */
import { describe, expect, test } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { zfsPorts, type PortsContext } from '../../lib/execute/ports.js';
import type { Action, SendStep } from '../../lib/plan/types.js';
import { HoldLedger, type HoldRecord } from '../../lib/state/holds.js';
import type { Host, RunResult, Sink, Source } from '../../lib/transport/host.js';
import type { LocalHost } from '../../lib/transport/local.js';
import { capabilitiesFor, LEGACY_CAPABILITIES } from '../../lib/zfs/capabilities.js';
import { Zfs } from '../../lib/zfs/client.js';

const OZ = capabilitiesFor('2.3.2');
const done = (r: Partial<RunResult> = {}): RunResult => ({ code: 0, signal: null, stdout: '', stderr: '', ...r });

/** A stream source that produces `chunks` then exits with `result` (unless aborted first). */
function source(chunks: number[], result: Partial<RunResult> = {}, opts: { hang?: boolean } = {}): Source & { aborted: boolean } {
  const stdout = new PassThrough();
  let settle!: (r: RunResult) => void;
  const s = {
    stdout,
    aborted: false,
    done: new Promise<RunResult>((r) => (settle = r)),
    abort() {
      s.aborted = true;
      stdout.destroy();
      settle(done({ code: null, signal: 'SIGTERM' }));
    },
  };
  setImmediate(() => {
    for (const n of chunks) stdout.write(Buffer.alloc(n));
    if (opts.hang) return;
    stdout.end();
    stdout.on('end', () => settle(done(result)));
    stdout.resume();
  });
  return s;
}

/** A receiving end: reads everything and exits 0, or fails once it has read `failAfter` bytes. */
function sink(opts: { failAfter?: number; stderr?: string } = {}): Sink & { received: number; aborted: boolean } {
  const stdin = new PassThrough();
  let settle!: (r: RunResult) => void;
  const k = {
    stdin,
    received: 0,
    aborted: false,
    done: new Promise<RunResult>((r) => (settle = r)),
    abort() {
      k.aborted = true;
      settle(done({ code: null, signal: 'SIGTERM' }));
    },
  };
  stdin.on('data', (d: Buffer) => {
    k.received += d.length;
    if (opts.failAfter !== undefined && k.received >= opts.failAfter) settle(done({ code: 1, stderr: opts.stderr ?? 'cannot receive: failed' }));
  });
  stdin.on('end', () => settle(done()));
  return k;
}

/** A Host whose commands are answered by `answer` (argv joined by spaces); records what ran. */
function host(label: string, answer: (cmd: string) => Partial<RunResult> = () => ({}), sinks: Array<ReturnType<typeof sink>> = []) {
  const ran: string[] = [];
  const h: Host = {
    label,
    async run(argv) {
      const cmd = argv.join(' ');
      ran.push(cmd);
      return done(answer(cmd));
    },
    startSource() {
      throw new Error('a source is started through the LocalHost below');
    },
    async startSink(argv) {
      ran.push(`sink: ${argv.join(' ')}`);
      const next = sinks.shift();
      if (!next) throw new Error('no sink scripted');
      return next;
    },
    async close() {},
  };
  return { h, ran };
}

function context(opts: {
  local?: ReturnType<typeof host>;
  remote?: ReturnType<typeof host>;
  sources?: Array<ReturnType<typeof source>>;
  records?: HoldRecord[];
  caps?: typeof OZ;
  extra?: Partial<PortsContext>;
}) {
  const local = opts.local ?? host('local');
  const remote = opts.remote ?? host('bk');
  const started: string[] = [];
  const localHost = Object.assign(local.h, {
    startSource(argv: readonly string[]) {
      started.push(argv.join(' '));
      const next = opts.sources?.shift();
      if (!next) throw new Error('no source scripted');
      return next;
    },
  }) as unknown as LocalHost;
  const ledger = new HoldLedger(null, opts.records ?? []);
  const ctx: PortsContext = {
    local: localHost,
    localZfs: new Zfs(local.h, opts.caps ?? OZ),
    destinations: new Map([['bk', new Zfs(remote.h, opts.caps ?? OZ)]]),
    ledger,
    idleTimeoutMs: 0,
    ...opts.extra,
  };
  return { ports: zfsPorts(ctx), ledger, local, remote, started };
}

let n = 0;
function action(a: Partial<Action> & Pick<Action, 'op' | 'argv'>): Action {
  return { id: `a${++n}`, phase: 'replicate', host: 'local', dataset: 'p/a', target: 'p/a', snapshots: ['s1'], after: [], why: 'test', ...a };
}
const record = (snapshot: string, dataset = 'p/a'): HoldRecord => ({ role: 'source', host: 'local', dataset, snapshot, tag: 'zback:bk:bpool/a' });

describe('snapshots and destroys', () => {
  test('a group that fails is taken one by one: each dataset gets its own result', async () => {
    const local = host('local', (cmd) =>
      cmd === 'zfs snapshot p/a@s1 p/b@s1' || cmd === 'zfs snapshot p/b@s1' ? { code: 1, stderr: "cannot create snapshot 'p/b@s1': out of space" } : {},
    );
    const { ports } = context({ local });
    const r = await ports.run(action({ op: 'snapshot', argv: ['zfs', 'snapshot', 'p/a@s1', 'p/b@s1'], datasets: ['p/a', 'p/b'], target: 'p/a' }));
    expect(r.ok).toBe(false);
    expect(r.taken).toEqual(['p/a']);
    expect([...r.failed!.keys()]).toEqual(['p/b']);
    expect(r.failed!.get('p/b')).toMatch(/out of space/);
    expect(local.ran).toEqual(['zfs snapshot p/a@s1 p/b@s1', 'zfs snapshot p/a@s1', 'zfs snapshot p/b@s1']);
  });

  test('a destroy that meets a clone keeps that snapshot and destroys the rest', async () => {
    const local = host('local', (cmd) =>
      cmd.includes('s1,s2') || cmd.endsWith('p/a@s1')
        ? { code: 1, stderr: "cannot destroy 'p/a@s1': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\np/clone" }
        : {},
    );
    const { ports } = context({ local });
    const r = await ports.run(action({ op: 'destroy', argv: ['zfs', 'destroy', 'p/a@s1,s2'], snapshots: ['s1', 's2'] }));
    expect(r.destroyed).toEqual(['s2']);
    expect(r.withClones).toEqual(['s1']);
    expect(r.ok).toBe(true);
  });
});

describe('holds and releases: the ledger follows ZFS exactly', () => {
  test('a hold is recorded once ZFS placed it; a failed hold throws and records nothing', async () => {
    const local = host('local', (cmd) => (cmd.endsWith('@gone') ? { code: 1, stderr: "cannot hold snapshot 'p/a@gone': dataset does not exist" } : {}));
    const { ports, ledger } = context({ local });
    await expect(ports.run(action({ op: 'hold', argv: ['zfs', 'hold', 'T', 'p/a@s1'], record: record('s1') }))).resolves.toEqual({ ok: true });
    await expect(ports.run(action({ op: 'hold', argv: ['zfs', 'hold', 'T', 'p/a@gone'], record: record('gone') }))).rejects.toThrow(/dataset does not exist/);
    expect(ledger.all().map((h) => h.snapshot)).toEqual(['s1']);
  });

  test('a release removes the record; one whose tag is already gone counts as released', async () => {
    const local = host('local', (cmd) =>
      cmd.endsWith('@s2') ? { code: 1, stderr: "cannot release hold from snapshot 'p/a@s2': no such tag on this dataset" } : {},
    );
    const { ports, ledger } = context({ local, records: [record('s1'), record('s2')] });
    await ports.run(action({ op: 'release', argv: ['zfs', 'release', 'T', 'p/a@s1'], record: record('s1') }));
    await ports.run(action({ op: 'release', argv: ['zfs', 'release', 'T', 'p/a@s2'], record: record('s2') }));
    expect(ledger.all()).toEqual([]);
  });

  test('a batch where one snapshot fails: each member gets its own result, and only the held ones are recorded', async () => {
    const local = host('local', (cmd) => (cmd.includes('p/b@s1') ? { code: 1, stderr: "cannot hold snapshot 'p/b@s1': dataset does not exist" } : {}));
    const { ports, ledger } = context({ local });
    const members = ['p/a', 'p/b', 'p/c'].map((d) =>
      action({ op: 'hold', argv: ['zfs', 'hold', 'T', `${d}@s1`], target: d, dataset: d, tag: 'T', record: record('s1', d) }),
    );
    const out = await ports.runBatch!(members);
    expect(members.map((m) => out.get(m.id)!.ok)).toEqual([true, false, true]);
    expect(out.get(members[1]!.id)!.error).toMatch(/dataset does not exist/);
    expect(ledger.all().map((h) => h.dataset)).toEqual(['p/a', 'p/c']);
    // One command for the batch first, then each snapshot alone to find the one that failed.
    expect(local.ran[0]).toBe('zfs hold T p/a@s1 p/b@s1 p/c@s1');
  });

  test('only holds and releases are run in batches', async () => {
    const { ports } = context({});
    await expect(ports.runBatch!([action({ op: 'destroy', argv: ['zfs', 'destroy', 'p/a@s1'] })])).rejects.toThrow(/not run in batches/);
  });

  test('an action on a host this run did not reach is an error, not a silent no-op', async () => {
    const { ports } = context({});
    await expect(ports.run(action({ op: 'mark-copy', host: 'elsewhere', argv: ['zfs', 'set', 'canmount=noauto', 'b/a'] }))).rejects.toThrow(
      /elsewhere is not connected in this run/,
    );
  });
});

describe('sends', () => {
  const step = (kind: SendStep['kind']): SendStep => ({
    kind,
    to: 's2',
    from: 's1',
    delivers: ['s2'],
    sendArgv: ['zfs', 'send', '-i', 'p/a@s1', 'p/a@s2'],
    recvArgv: ['zfs', 'receive', '-u', '-s', 'b/a'],
  });
  const send = (kind: SendStep['kind'] = 'incremental') =>
    action({ op: 'send', host: 'bk', argv: step(kind).sendArgv, recvArgv: step(kind).recvArgv, send: step(kind), replication: 'bk:b/a', target: 'b/a' });

  test('a stream that arrives whole: ok, with its bytes; the size estimate only where progress is shown', async () => {
    const k = sink();
    const progress: Array<[number | null, number | null]> = [];
    const local = host('local', (cmd) => (cmd.startsWith('zfs send -nP') ? { stdout: 'incremental\tp/a@s1\tp/a@s2\t3000\nsize\t3000\n' } : {}));
    const quiet = context({ local: host('local'), remote: host('bk', undefined, [sink()]), sources: [source([1000, 2000])] });
    expect(await quiet.ports.run(send())).toEqual({ ok: true, bytes: 3000 });
    expect(quiet.local.ran).toEqual([]); // no zfs send -nP from cron

    const shown = context({
      local,
      remote: host('bk', undefined, [k]),
      sources: [source([1000, 2000])],
      extra: { onProgress: (_l, b, t) => progress.push([b, t]) },
    });
    expect(await shown.ports.run(send())).toEqual({ ok: true, bytes: 3000 });
    expect(k.received).toBe(3000);
    expect(local.ran).toEqual(['zfs send -nP -i p/a@s1 p/a@s2']);
    expect(progress[progress.length - 1]).toEqual([null, null]);
    expect(progress.some(([b, t]) => b === 3000 && t === 3000)).toBe(true);
  });

  test('a receive that fails after the stream started: the send is stopped, and the error has zfs recv’s words', async () => {
    const src = source([1000, 1000, 1000], {}, { hang: true });
    const k = sink({ failAfter: 1000, stderr: 'cannot receive incremental stream: destination b/a has been modified\nsince most recent snapshot\n' });
    const { ports } = context({ remote: host('bk', undefined, [k]), sources: [src] });
    const r = await ports.run(send());
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/zfs recv failed .*destination b\/a has been modified/s);
    expect(src.aborted).toBe(true);
  });

  test('a resume whose token the sender refuses: marked resume-token-unusable (the plan then discards the partial receive)', async () => {
    const src = source([], { code: 255, stderr: "cannot resume send: 'p/a@s2' used in the initial send no longer exists\n" });
    const { ports } = context({ remote: host('bk', undefined, [sink()]), sources: [src] });
    const r = await ports.run(send('resume'));
    expect(r.ok).toBe(false);
    expect(r.because).toBe('resume-token-unusable');
    expect(r.error).toMatch(/the interrupted receive cannot be resumed/);
  });

  test('a resume that fails for another reason keeps the partial receive for the next run', async () => {
    const src = source([500], {}, { hang: true });
    const { ports } = context({ remote: host('bk', undefined, [sink({ failAfter: 500, stderr: 'connection reset\n' })]), sources: [src] });
    const r = await ports.run(send('resume'));
    expect(r.because).toBeUndefined();
    expect(r.error).toMatch(/\(the partial receive is kept; the next run resumes it\)$/);
  });

  test('a signal in the middle of a send stops both ends and says whether the partial receive is kept', async () => {
    const abort = new AbortController();
    const src = source([4096], {}, { hang: true });
    const k = sink();
    const { ports } = context({ remote: host('bk', undefined, [k]), sources: [src], extra: { signal: abort.signal, resumable: () => true } });
    const running = ports.run(send());
    await new Promise((r) => setTimeout(r, 20));
    abort.abort('SIGTERM');
    const r = await running;
    expect([r.ok, src.aborted, k.aborted]).toEqual([false, true, true]);
    expect(r.error).toBe('stopped by SIGTERM (the partial receive is kept; the next run resumes it)');

    // On a ZFS without resumable receives, nothing is said to be kept.
    const legacy = new AbortController();
    const other = context({
      remote: host('bk', undefined, [sink()]),
      sources: [source([10], {}, { hang: true })],
      caps: LEGACY_CAPABILITIES,
      extra: { signal: legacy.signal, resumable: () => false },
    });
    legacy.abort('SIGINT');
    expect((await other.ports.run(send())).error).toBe('stopped by SIGINT');
  });
});
