// The same run as stryker.config.mjs, recording each mutant's result the moment it is known
// (reports/<run>/events/*.json), so a run stopped early still tells which mutants survived:
// npm run mutation -- stryker/events.config.mjs --mutate FILE
import base from '../stryker.config.mjs';

const run = process.env.MUTATION_RUN ?? 'mutation';
export default { ...base, reporters: ['event-recorder', 'progress-append-only'], eventReporter: { baseDir: `reports/${run}/events` } };
