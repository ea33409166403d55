/**
 * Jest's own order (failed first, then slowest by the last run's timings, then largest file),
 * except that the OpenZFS guest's tests always start first: on a fresh machine they build the
 * guest image (about 5 minutes) before their first test, and everything else runs beside them.
 */
const Sequencer = require('@jest/test-sequencer').default;

const first = (test) => (test.path.endsWith('openzfs.test.ts') ? 1 : 0);

class OpenZfsFirst extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted].sort((a, b) => first(b) - first(a));
  }
}

module.exports = OpenZfsFirst;
