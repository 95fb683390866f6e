// The test sequencer of mutation runs (stryker/jest.config.js): the files in the order
// MUTATION_TESTS lists them, so that a run tries the file most likely to kill a mutant first (with
// the fail-fast environment, the files after a kill are skipped). Jest's own order (slowest first,
// from its cache) would start every run with the slowest file.
const Sequencer = require('@jest/test-sequencer').default;

class ListedOrderSequencer extends Sequencer {
  sort(tests) {
    const listed = (process.env.MUTATION_TESTS ?? '').split(',').map((file) => file.trim()).filter(Boolean);
    const rank = (path) => {
      const index = listed.findIndex((file) => path.endsWith(file));
      return index === -1 ? listed.length : index;
    };
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path));
  }
}

module.exports = ListedOrderSequencer;
