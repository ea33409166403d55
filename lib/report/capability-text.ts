/**
 * What each host's ZFS can do, as `zback run --verbose` says it (SPEC §11): its version, and the
 * features of the pools this run uses that decide the stream options.
 */
import { featureList, type PoolFeatures, type ZfsCapabilities } from '../zfs/capabilities.js';

export function capabilityLines(host: string, caps: ZfsCapabilities, features: PoolFeatures | undefined): string[] {
  const lines = [`${host} zfs: ${caps.description}`];
  if (!caps.openzfs) return lines; // pool versions, no feature flags: plain streams only
  if (!features?.size) return [...lines, `${host} pools: features unknown (zpool get gave no answer): plain streams only`];
  for (const [pool, f] of [...features].sort(([a], [b]) => (a < b ? -1 : 1))) lines.push(`${host} pool ${pool}: ${featureList(f)}`);
  return lines;
}
