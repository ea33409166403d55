/**
 * A remote host: ONE ssh2 connection for the whole run; every command is an exec channel of it.
 *
 * Facts this relies on (measured, see the SSH reference notes):
 * - sshd allows MaxSessions (10) channels per connection and a closing channel still counts for
 *   a moment, so zback caps its open channels (default 4) and retries "open failed" with backoff;
 * - Nagle's algorithm costs ~40 ms per request/response: setNoDelay(true);
 * - a channel's 'close' only fires once its stdout was read: every channel's stdout is consumed;
 * - sshd refuses channel signals for root: a remote process is stopped by PID over another channel.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { DEFAULT_LIMITS, MAX_STDERR, outputCapText, printable, timeoutText } from './host.js';
import type { CommandLimits, CommandObserver, Host, RunResult, Sink, Source } from './host.js';
import { addHostKey, checkHostKey, fingerprint, keyTypeOf, knownHostsName } from './known-hosts.js';
import { killCommand, PID_MARKER_PREFIX, shellCommand, withPidReport } from './quote.js';
import { Semaphore } from '../util/semaphore.js';
import { withRetries } from '../util/retry.js';
import type { SshSettings } from './ssh-config.js';

const { Client, utils } = ssh2;

export interface RemoteOptions {
  /** Channels open at once on the connection (default 4; keep ≤ MaxSessions − 2). */
  maxChannels?: number;
  /** Write accepted new host keys to known_hosts (not in a dry run, which changes nothing). */
  recordNewHostKeys?: boolean;
  observe?: CommandObserver;
  /** Deadline of a command and of a channel open, and the cap on a command's output. */
  limits?: CommandLimits;
}

/** Host-key algorithm names ssh2 negotiates for a known_hosts key type. */
function algorithmsFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

const OPEN_RETRIES = 8;
/** After an abort, how long a remote process may take to go before zback stops waiting for it. */
const ABORT_GRACE_MS = 30_000;

export class RemoteHost implements Host {
  /** The algorithms the handshake settled on (cipher etc.), for diagnostics and benchmarks. */
  negotiated?: { kex?: string; serverHostKey?: string; cs?: { cipher?: string } };
  private closed = false;
  private lost: string | null = null;
  private readonly slots: Semaphore;
  private readonly limits: CommandLimits;

  private constructor(
    readonly label: string,
    private readonly conn: InstanceType<typeof Client>,
    private readonly options: RemoteOptions,
  ) {
    this.slots = new Semaphore(options.maxChannels ?? 4);
    this.limits = options.limits ?? DEFAULT_LIMITS;
    conn.on('close', () => {
      if (!this.closed) this.lost ??= `the SSH connection to ${label} was lost`;
    });
  }

  /** Connect and authenticate; rejects with a message that says what to fix. */
  static connect(label: string, s: SshSettings, options: RemoteOptions = {}): Promise<RemoteHost> {
    const name = knownHostsName(s.hostKeyAlias ?? s.hostname, s.hostKeyAlias ? 22 : s.port);
    const known = checkHostKey(s.knownHostsFiles, name, Buffer.alloc(0));
    let refusal: string | null = null;
    const auth = authMethods(s);
    if (auth.methods.length === 0) {
      return Promise.reject(
        new Error(
          `no way to log in to ${label}: no usable key among ${s.identityFiles.join(', ') || 'the IdentityFile settings'} and no ssh-agent (SSH_AUTH_SOCK)${auth.notes.length ? ` (${auth.notes.join('; ')})` : ''}`,
        ),
      );
    }
    const config: ConnectConfig = {
      host: s.hostname,
      port: s.port,
      username: s.user,
      readyTimeout: s.connectTimeoutMs ?? 20_000,
      keepaliveInterval: s.serverAliveIntervalMs ?? 15_000,
      keepaliveCountMax: s.serverAliveCountMax ?? 3,
      authHandler: auth.methods as ConnectConfig['authHandler'],
      hostVerifier: (key: Buffer) => {
        const check = checkHostKey(s.knownHostsFiles, name, key);
        if (check.status === 'known') return true;
        const fp = `${keyTypeOf(key)} ${fingerprint(key)}`;
        if (check.status === 'unknown' && s.strict === 'accept-new' && s.userKnownHostsFiles[0]) {
          if (options.recordNewHostKeys !== false) addHostKey(s.userKnownHostsFiles[0], name, key);
          return true;
        }
        refusal =
          check.status === 'unknown'
            ? `the host key of ${name} (${fp}) is not in ${s.knownHostsFiles.join(' or ') || 'any known_hosts file'}; add it (ssh-keyscan, or one interactive ssh) or set StrictHostKeyChecking accept-new for this host`
            : check.status === 'revoked'
              ? `the host key of ${name} (${fp}) is marked @revoked in ${check.conflict}`
              : `the host key of ${name} has CHANGED (now ${fp}; known key in ${check.conflict ?? s.knownHostsFiles.join(', ')}). This can be an attack; if the change is expected, remove the old key with: ssh-keygen -R '${name}'`;
        return false;
      },
    };
    if (known.knownTypes.length) config.algorithms = { serverHostKey: known.knownTypes.flatMap(algorithmsFor) as never };
    return new Promise((resolve, reject) => {
      const conn = new Client();
      let settled = false;
      // Keep an error listener for the connection's whole life: ssh2 can emit a second error.
      conn.on('error', (e: Error & { level?: string }) => {
        if (settled) return;
        settled = true;
        const why = refusal ?? (e.level === 'client-authentication' ? `authentication as ${s.user} failed (${auth.describe})` : e.message);
        reject(new Error(`cannot connect to ${label} (${s.user}@${s.hostname}:${s.port}): ${why}`));
      });
      let negotiated: RemoteHost['negotiated'];
      conn.on('handshake', (n: RemoteHost['negotiated']) => (negotiated = n));
      conn.on('ready', () => {
        settled = true;
        conn.setNoDelay(true);
        const host = new RemoteHost(label, conn, options);
        if (negotiated) host.negotiated = negotiated;
        resolve(host);
      });
      try {
        conn.connect(config);
      } catch (e) {
        settled = true;
        reject(new Error(`cannot connect to ${label}: ${(e as Error).message}`));
      }
    });
  }

  /** Open an exec channel within the channel cap, retrying "open failed" with backoff. */
  private async openChannel(command: string): Promise<{ ch: ClientChannel; release: () => void }> {
    const release = await this.slots.acquire();
    const refused = (e: unknown) => /open failed/i.test((e as Error).message) || (e as { reason?: number }).reason === 2;
    try {
      const ch = await withRetries(() => this.openOnce(command), { retries: OPEN_RETRIES, baseMs: 10, retryable: (e) => !this.lost && refused(e) });
      ch.on('close', release);
      return { ch, release };
    } catch (e) {
      release();
      if (this.lost) throw new Error(this.lost);
      throw new Error(`${this.label}: cannot open an SSH channel: ${(e as Error).message}`);
    }
  }

  /** One try at an exec channel, within the command deadline. */
  private openOnce(command: string): Promise<ClientChannel> {
    if (this.lost) return Promise.reject(new Error(this.lost));
    return new Promise<ClientChannel>((resolve, reject) => {
      // A host that does not open a channel in time is given up for the rest of the run.
      const timer = setTimeout(() => {
        this.giveUp(`${this.label} did not open an SSH channel within ${Math.round(this.limits.timeoutMs / 1000)} s (--command-timeout)`);
        reject(new Error(this.lost!));
      }, this.limits.timeoutMs);
      try {
        this.conn.exec(command, (err, channel) => {
          clearTimeout(timer);
          if (this.lost && channel) channel.close(); // it came too late
          if (err) reject(err);
          else resolve(channel);
        });
      } catch (e) {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e))); // "Not connected" is thrown synchronously
      }
    });
  }

  /**
   * The host is given up for the rest of the run (a command or channel open missed its deadline):
   * every later command fails at once with `why`, and the connection is closed, so nothing of this
   * run stays behind on it.
   */
  private giveUp(why: string): void {
    if (this.lost) return;
    this.lost = `${why}; it is treated as unreachable for the rest of this run`;
    this.conn.end();
  }

  async run(argv: readonly string[]): Promise<RunResult> {
    this.options.observe?.(this.label, argv);
    // The command reports its PID first (as in startSink), so a command that misses its deadline
    // can be stopped on the host, not only abandoned.
    const marker = `${PID_MARKER_PREFIX}${randomBytes(6).toString('hex')}`;
    let ch: ClientChannel;
    try {
      ({ ch } = await this.openChannel(withPidReport(marker, argv)));
    } catch (e) {
      return { code: null, signal: null, stdout: '', stderr: (e as Error).message };
    }
    const markerLine = new RegExp(`^${marker} (\\d+)\\n`, 'm');
    return new Promise((resolve) => {
      const out: Buffer[] = [];
      let size = 0;
      let err = '';
      let pid = 0;
      let stopped: string | null = null;
      const stop = (why: string, giveUp: boolean) => {
        if (stopped) return;
        stopped = why;
        const close = () => {
          ch.close();
          if (giveUp) this.giveUp(`${this.label}: ${shellCommand(argv)} ${why}`);
        };
        if (pid > 0) void this.killRemote(pid).finally(close);
        else close();
        // A connection that is dead may never report the channel closed: do not wait for it.
        setTimeout(
          () => resolve({ code: null, signal: null, stdout: '', stderr: `${printable(err)}${err && !err.endsWith('\n') ? '\n' : ''}${why}` }),
          5000,
        ).unref();
      };
      const timer = setTimeout(() => stop(timeoutText(this.limits), true), this.limits.timeoutMs);
      ch.on('data', (d: Buffer) => {
        if (stopped) return;
        size += d.length;
        if (size > this.limits.maxOutputBytes) return stop(outputCapText(this.limits), false);
        out.push(d);
      });
      ch.stderr.on('data', (d: Buffer) => {
        if (err.length < MAX_STDERR) err += d.toString('utf8');
        if (pid === 0) {
          const m = markerLine.exec(err);
          if (m) {
            pid = Number(m[1]);
            err = err.replace(m[0], '');
          }
        }
      });
      ch.on('close', (code: number | undefined, signal: string | undefined) => {
        clearTimeout(timer);
        if (stopped) return resolve({ code: null, signal: null, stdout: '', stderr: `${printable(err)}${err && !err.endsWith('\n') ? '\n' : ''}${stopped}` });
        if (code === undefined && signal === undefined && !err) err = this.lost ?? `the SSH channel to ${this.label} closed without an exit status`;
        resolve({ code: code ?? null, signal: signal ?? null, stdout: Buffer.concat(out).toString('utf8'), stderr: printable(err) });
      });
    });
  }

  async startSink(argv: readonly string[]): Promise<Sink> {
    const { ch, done, abort } = await this.startStreaming(argv);
    ch.resume(); // stdout must be consumed or 'close' never comes
    return { stdin: ch, done, abort };
  }

  /**
   * A command whose stdout is a stream (`zfs send` on the backup host, for zback restore): the
   * channel is its stdout; EOF goes to the command at once, it reads nothing.
   */
  async startSource(argv: readonly string[]): Promise<Source> {
    const { ch, done, abort } = await this.startStreaming(argv);
    // (No EOF is sent to it: zfs send reads nothing from its stdin.)
    return { stdout: ch, done, abort };
  }

  /** An exec channel for a stream in either direction, with the command's PID known for abort(). */
  private async startStreaming(argv: readonly string[]): Promise<{ ch: ClientChannel; done: Promise<RunResult>; abort: () => void }> {
    this.options.observe?.(this.label, argv);
    // sshd makes the session its own process group; `exec` keeps the shell's PID for the command,
    // which a marker line on stderr reports so the process can be killed if the stream fails. The
    // marker is unique to this call, and found on any line: shell start-up files may print first.
    const marker = `${PID_MARKER_PREFIX}${randomBytes(6).toString('hex')}`;
    const { ch } = await this.openChannel(withPidReport(marker, argv));
    const markerLine = new RegExp(`^${marker} (\\d+)\\n`, 'm'); // a whole line, not a partial chunk
    let pid = 0;
    let err = '';
    let started: (() => void) | null = null;
    const running = new Promise<void>((r) => (started = r));
    ch.on('error', () => {});
    ch.stderr.on('data', (d: Buffer) => {
      if (err.length < MAX_STDERR) err += d.toString('utf8');
      if (!started) return;
      const m = markerLine.exec(err);
      if (m) {
        pid = Number(m[1]);
        err = err.replace(m[0], '');
      } else if (err.length < MAX_STDERR) return;
      started();
      started = null;
    });
    let resolveDone!: (r: RunResult) => void;
    const done = new Promise<RunResult>((resolve) => (resolveDone = resolve));
    ch.on('close', (code: number | undefined, signal: string | undefined) => {
      started?.();
      if (code === undefined && signal === undefined) err += err ? '' : (this.lost ?? `the SSH channel to ${this.label} closed without an exit status`);
      resolveDone({ code: code ?? null, signal: signal ?? null, stdout: '', stderr: printable(err) });
    });
    await running;
    const abort = () => {
      if (pid > 0) void this.killRemote(pid);
      ch.close(); // no EOF from us
      // A remote process that ignores all this must not hang the run (and keep its lock).
      setTimeout(
        () =>
          resolveDone({
            code: null,
            signal: null,
            stdout: '',
            stderr: `${printable(err)}the remote process did not stop within ${ABORT_GRACE_MS / 1000} s after it was told to`,
          }),
        ABORT_GRACE_MS,
      ).unref();
    };
    return { ch, done, abort };
  }

  /**
   * Stop a remote process group by PID over a channel of its own (sshd refuses signals for root).
   * Outside the channel cap on purpose: an abort must not wait behind the channels it frees; a
   * refused channel is retried like any other.
   */
  private async killRemote(pid: number): Promise<void> {
    const once = () =>
      new Promise<void>((resolve, reject) => {
        try {
          this.conn.exec(killCommand(pid), (e, k) => {
            if (e) return reject(e);
            k.resume();
            k.stderr.resume();
            resolve();
          });
        } catch {
          resolve(); // not connected: sshd has closed the session, the process got EOF
        }
      });
    // Refused every time: the connection is going anyway, and with it the process's session.
    await withRetries(once, { retries: OPEN_RETRIES, baseMs: 10, retryable: () => !this.lost }).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.lost) return; // already gone: no 'close' event will come again
    await new Promise<void>((resolve) => {
      // Not unref'd: an unref'd timer would let the process exit in the middle of this await.
      const timer = setTimeout(resolve, 2000);
      this.conn.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.conn.end();
    });
  }
}

interface AuthPlan {
  methods: object[];
  notes: string[];
  describe: string;
}

/** Every usable identity file in order, then the agent: as ssh would try them. */
function authMethods(s: SshSettings): AuthPlan {
  const methods: object[] = [];
  const notes: string[] = [];
  const tried: string[] = [];
  for (const file of s.identityFiles) {
    if (!existsSync(file)) continue;
    let key: Buffer;
    try {
      key = readFileSync(file);
    } catch (e) {
      notes.push(`${file}: ${(e as Error).message}`);
      continue;
    }
    const parsed = utils.parseKey(key);
    if (parsed instanceof Error) {
      notes.push(`${file}: ${parsed.message}${/encrypted|passphrase/i.test(parsed.message) ? ' (load it into ssh-agent instead)' : ''}`);
      continue;
    }
    methods.push({ type: 'publickey', username: s.user, key });
    tried.push(file);
  }
  if (process.env.SSH_AUTH_SOCK) {
    methods.push({ type: 'agent', username: s.user, agent: process.env.SSH_AUTH_SOCK });
    tried.push('ssh-agent');
  }
  return { methods, notes, describe: `tried ${tried.join(', ') || 'nothing'}` };
}
