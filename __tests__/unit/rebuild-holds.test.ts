/**
 * Rebuilding the hold ledger from ZFS (lib/execute/rebuild-holds.ts), against scripted hosts that
 * keep hold tags as zfs does: `zfs hold` of a tag already there fails with "tag already exists",
 * which is how zback finds its holds on a ZFS that cannot list tags (zfs-fuse). The rebuilt ledger
 * names exactly the holds that are there, and no probe leaves a hold behind.
 */
import { describe, expect, test } from '@jest/globals';
import type { DestinationDiscovery } from '../../lib/execute/discover.js';
import { rebuildHolds } from '../../lib/execute/rebuild-holds.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { sourceHoldTag, TARGET_HOLD_TAG } from '../../lib/plan/hold-tags.js';
import type { Host, RunResult } from '../../lib/transport/host.js';
import { LEGACY_CAPABILITIES } from '../../lib/zfs/capabilities.js';
import { Zfs } from '../../lib/zfs/client.js';
import { at, inventoryOf, N, reachable, rows } from './plan-fixtures.js';

/** A host whose hold tags live in `tags` ("tag dataset@snap"); every command it ran is in `ran`. */
function holdingHost(label: string, tags: string[]) {
  const held = new Set(tags);
  const ran: string[] = [];
  const host: Host = {
    label,
    async run(argv): Promise<RunResult> {
      ran.push(argv.join(' '));
      const [, op, tag, snap] = argv;
      const key = `${tag} ${snap}`;
      if (op === 'hold' && held.has(key))
        return { code: 1, signal: null, stdout: '', stderr: `cannot hold snapshot '${snap}': tag already exists on this dataset\n` };
      if (op === 'hold') held.add(key);
      if (op === 'release') held.delete(key);
      return { code: 0, signal: null, stdout: '', stderr: '' };
    },
    async startSink() {
      throw new Error('not used');
    },
    startSource() {
      throw new Error('not used');
    },
    async close() {},
  };
  return { zfs: new Zfs(host, LEGACY_CAPABILITIES), held, ran };
}

const s1 = at('11-25 10');
const s2 = at('11-25 11');
const configs = resolveConfigs(rows('p/a', { snapshot: 'yes', retention: '24h', destinations: 'bk:bpool/a|hourly' }), N);
const inventory = inventoryOf({ 'p/a': { snaps: [{ name: s1, userrefs: 2 }, { name: s2, userrefs: 1 }, at('11-25 09')] } });
const TAG = sourceHoldTag('bk', 'bpool/a');

function remote(bk: ReturnType<typeof holdingHost>, opts: { appendOnly?: boolean; reachable?: boolean } = {}): DestinationDiscovery {
  const state = reachable({ bpool: {}, 'bpool/a': { snaps: [{ name: s1, userrefs: 1 }, s2] } }, LEGACY_CAPABILITIES);
  if (opts.reachable === false) return { states: new Map([['bk', { label: 'bk', reachable: false, error: 'down' }]]), zfs: new Map() };
  return {
    states: new Map([['bk', opts.appendOnly ? { ...state, sink: { roots: ['bpool'], appendOnly: true, keepDays: 0 } } : state]]),
    zfs: new Map([['bk', bk.zfs]]),
  };
}

describe('rebuildHolds', () => {
  test('finds exactly the holds that are there, on both sides, and leaves every hold as it found it', async () => {
    const local = holdingHost('local', [`${TAG} p/a@${s1}`, `keep p/a@${s1}`, `keep p/a@${s2}`]);
    const bk = holdingHost('bk', [`${TARGET_HOLD_TAG} bpool/a@${s1}`]);
    const before = { local: [...local.held].sort(), bk: [...bk.held].sort() };
    const records = await rebuildHolds(local.zfs, configs, inventory, remote(bk));
    expect(records).toEqual([
      { role: 'source', host: 'local', dataset: 'p/a', snapshot: s1, tag: TAG, destination: { hostLabel: 'bk', target: 'bpool/a' } },
      { role: 'target', host: 'bk', dataset: 'bpool/a', snapshot: s1, tag: TARGET_HOLD_TAG },
    ]);
    expect({ local: [...local.held].sort(), bk: [...bk.held].sort() }).toEqual(before);
    // Only held snapshots are probed (s2 held by someone else; the unheld one never).
    expect(local.ran.filter((c) => c.startsWith('zfs hold'))).toEqual([`zfs hold ${TAG} p/a@${s1}`, `zfs hold ${TAG} p/a@${s2}`]);
    expect(local.ran).toContain(`zfs release ${TAG} p/a@${s2}`); // the probe's own hold, at once
  });

  test('an append-only sink or an unreachable backup host is not probed there (the source side still is)', async () => {
    for (const opts of [{ appendOnly: true }, { reachable: false }]) {
      const local = holdingHost('local', [`${TAG} p/a@${s1}`]);
      const bk = holdingHost('bk', [`${TARGET_HOLD_TAG} bpool/a@${s1}`]);
      const records = await rebuildHolds(local.zfs, configs, inventory, remote(bk, opts));
      expect(records.map((r) => r.role)).toEqual(['source']);
      expect(bk.ran).toEqual([]);
    }
  });

  test('a probe that cannot tell (the hold fails otherwise) is an error, not a guess', async () => {
    const local = holdingHost('local', []);
    const broken: Host = {
      ...local.zfs.host,
      run: async (argv) => ({ code: 1, signal: null, stdout: '', stderr: `cannot hold snapshot '${argv[3]}': pool I/O is currently suspended\n` }),
    };
    await expect(rebuildHolds(new Zfs(broken, LEGACY_CAPABILITIES), configs, inventory, remote(holdingHost('bk', [])))).rejects.toThrow(
      /pool I\/O is currently suspended/,
    );
  });
});
