/**
 * The lab most replication tests use: for every test a fresh source host (pool tank) and backup
 * host (pool bpool, with a real sshd on its own loopback port), in one Lab per test file.
 */
import { Lab, type LabHost } from './lab.js';

export interface TwoHosts {
  lab: Lab;
  src: LabHost;
  bak: LabHost;
  /** The test's number in the file (hosts are src<n> and bak<n>). */
  n: number;
  port: number;
}

/** Registers the hooks; the returned object holds the current test's hosts. `portOf` keeps files apart. */
export function twoHosts(name: string, portOf: (n: number) => number): TwoHosts {
  const t = { n: 0 } as TwoHosts;
  beforeAll(() => {
    t.lab = new Lab(name);
  });
  afterAll(async () => {
    await t.lab?.stop();
  });
  beforeEach(async () => {
    t.n++;
    t.port = portOf(t.n);
    t.src = await t.lab.start(`src${t.n}`);
    t.bak = await t.lab.start(`bak${t.n}`);
    await t.src.pool('tank');
    await t.bak.pool('bpool');
    await t.bak.sshd(t.port);
  });
  return t;
}
