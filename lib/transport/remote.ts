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
import { existsSync, readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { MAX_STDERR, type CommandObserver, type Host, type RunResult, type Sink } from './host.js';
import { addHostKey, checkHostKey, fingerprint, keyTypeOf, knownHostsName } from './known-hosts.js';
import { shellCommand } from './quote.js';
import type { SshSettings } from './ssh-config.js';

const { Client, utils } = ssh2;

export interface RemoteOptions {
  /** Channels open at once on the connection (default 4; keep ≤ MaxSessions − 2). */
  maxChannels?: number;
  observe?: CommandObserver;
}

/** Host-key algorithm names ssh2 negotiates for a known_hosts key type. */
function algorithmsFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

class Semaphore {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

const OPEN_RETRIES = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RemoteHost implements Host {
  private closed = false;
  private lost: string | null = null;
  private readonly slots: Semaphore;

  private constructor(
    readonly label: string,
    private readonly conn: InstanceType<typeof Client>,
    private readonly options: RemoteOptions,
  ) {
    this.slots = new Semaphore(Math.max(1, options.maxChannels ?? 4));
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
        new Error(`no way to log in to ${label}: no usable key among ${s.identityFiles.join(', ') || 'the IdentityFile settings'} and no ssh-agent (SSH_AUTH_SOCK)${auth.notes.length ? ` (${auth.notes.join('; ')})` : ''}`),
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
          addHostKey(s.userKnownHostsFiles[0], name, key);
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
      conn.on('ready', () => {
        settled = true;
        conn.setNoDelay(true);
        resolve(new RemoteHost(label, conn, options));
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
    for (let attempt = 0; ; attempt++) {
      if (this.lost) {
        release();
        throw new Error(this.lost);
      }
      try {
        const ch = await new Promise<ClientChannel>((resolve, reject) => {
          try {
            this.conn.exec(command, (err, channel) => (err ? reject(err) : resolve(channel)));
          } catch (e) {
            reject(e); // "Not connected" is thrown synchronously
          }
        });
        ch.on('close', release);
        return { ch, release };
      } catch (e) {
        const refused = /open failed/i.test((e as Error).message) || (e as { reason?: number }).reason === 2;
        if (!refused || attempt >= OPEN_RETRIES) {
          release();
          throw new Error(`${this.label}: cannot open an SSH channel: ${(e as Error).message}`);
        }
        await sleep(10 * 2 ** attempt);
      }
    }
  }

  async run(argv: readonly string[]): Promise<RunResult> {
    this.options.observe?.(this.label, argv);
    let ch: ClientChannel;
    try {
      ({ ch } = await this.openChannel(shellCommand(argv)));
    } catch (e) {
      return { code: null, signal: null, stdout: '', stderr: (e as Error).message };
    }
    return new Promise((resolve) => {
      const out: Buffer[] = [];
      let err = '';
      ch.on('data', (d: Buffer) => out.push(d));
      ch.stderr.on('data', (d: Buffer) => {
        if (err.length < MAX_STDERR) err += d.toString('utf8');
      });
      ch.on('close', (code: number | undefined, signal: string | undefined) => {
        if (code === undefined && signal === undefined && !err) err = this.lost ?? `the SSH channel to ${this.label} closed without an exit status`;
        resolve({ code: code ?? null, signal: signal ?? null, stdout: Buffer.concat(out).toString('utf8'), stderr: err });
      });
    });
  }

  async startSink(argv: readonly string[]): Promise<Sink> {
    this.options.observe?.(this.label, argv);
    // sshd makes the session its own process group; `exec` keeps the shell's PID for the command,
    // which the first stderr line reports so the process can be killed if the stream fails.
    const { ch } = await this.openChannel(`echo "ZBACK_PID $$" >&2; exec ${shellCommand(argv)}`);
    let pid = 0;
    let err = '';
    let head = '';
    let started: (() => void) | null = null;
    const running = new Promise<void>((r) => (started = r));
    ch.resume(); // stdout must be consumed or 'close' never comes
    ch.on('error', () => {});
    ch.stderr.on('data', (d: Buffer) => {
      if (started) {
        head += d.toString('utf8');
        const nl = head.indexOf('\n');
        if (nl < 0) return;
        const m = /^ZBACK_PID (\d+)$/.exec(head.slice(0, nl));
        pid = m ? Number(m[1]) : 0;
        err += head.slice(m ? nl + 1 : 0);
        started();
        started = null;
        return;
      }
      if (err.length < MAX_STDERR) err += d.toString('utf8');
    });
    const done = new Promise<RunResult>((resolve) => {
      ch.on('close', (code: number | undefined, signal: string | undefined) => {
        started?.();
        if (code === undefined && signal === undefined) err += err ? '' : (this.lost ?? `the SSH channel to ${this.label} closed without an exit status`);
        resolve({ code: code ?? null, signal: signal ?? null, stdout: '', stderr: err });
      });
    });
    await running;
    const abort = () => {
      if (pid > 0 && !this.lost) {
        // Outside the channel cap on purpose: an abort must not wait behind the channels it frees.
        try {
          this.conn.exec(`kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid} 2>/dev/null`, (e, k) => {
            if (!e) {
              k.resume();
              k.stderr.resume();
            }
          });
        } catch {
          /* connection gone: sshd closes the session and the process gets EOF */
        }
      }
      ch.close(); // no EOF from us
    };
    return { stdin: ch, done, abort };
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
