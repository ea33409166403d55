/**
 * One Host per destination host for the whole run: the first use connects, every later use
 * (other datasets, other destinations on the same host) shares that connection. A host that
 * cannot be reached is tried once per run and reported; it never stops the others.
 */
import { hostLabel, type HostTarget } from './target.js';
import type { CommandLimits, CommandObserver, Host } from './host.js';
import type { LocalHost } from './local.js';
import { resolveSsh } from './ssh-config.js';

export interface PoolOptions {
  sshConfig?: string;
  acceptNewHostKeys: boolean;
  /** False in a dry run: an accepted new key is used but not written to known_hosts. */
  recordNewHostKeys: boolean;
  maxChannels: number;
  observe?: CommandObserver;
  limits?: CommandLimits;
}

export class HostPool {
  private readonly hosts = new Map<string, Promise<Host>>();
  /** SSH connections opened in this run (one per remote host). */
  connections = 0;

  constructor(
    readonly local: LocalHost,
    private readonly options: PoolOptions,
  ) {}

  get(d: HostTarget): Promise<Host> {
    const label = hostLabel(d);
    let h = this.hosts.get(label);
    if (!h) {
      h = d.host === undefined ? Promise.resolve(this.local) : this.connect(label, d);
      h.catch(() => {}); // reported where it is awaited
      this.hosts.set(label, h);
    }
    return h;
  }

  private async connect(label: string, d: HostTarget): Promise<Host> {
    const target = { alias: d.host!, ...(d.user !== undefined ? { user: d.user } : {}), ...(d.port !== undefined ? { port: d.port } : {}) };
    const settings = await resolveSsh(this.local, target, this.options.sshConfig, this.options.acceptNewHostKeys);
    this.connections++;
    // ssh2 is loaded only by a run that has a remote destination (start-up of a local-only run).
    const { RemoteHost } = await import('./remote.js');
    return RemoteHost.connect(label, settings, {
      maxChannels: this.options.maxChannels,
      ...(this.options.limits ? { limits: this.options.limits } : {}),
      recordNewHostKeys: this.options.recordNewHostKeys,
      ...(this.options.observe ? { observe: this.options.observe } : {}),
    });
  }

  async closeAll(): Promise<void> {
    const all = await Promise.allSettled(this.hosts.values());
    await Promise.all(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.close()] : [])));
  }
}
