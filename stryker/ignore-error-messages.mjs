// A Stryker ignorer: the human-readable detail of an error is not a check, so its mutants do not
// count. It ignores the detail argument of `new AppError(code, detail)` (the 2nd) and the message
// of `new Error(message)` / `new TypeError(message)` (the 1st). The error code, algorithm URIs and
// every other string are still mutated.
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const MESSAGE_ARGUMENT = { AppError: 1, Error: 0, TypeError: 0 };

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'error-messages', {
    shouldIgnore(path) {
      const parent = path.parentPath;
      if (!parent?.isNewExpression() || !parent.get('callee').isIdentifier()) return undefined;
      const index = MESSAGE_ARGUMENT[parent.node.callee.name];
      if (index === undefined || path.listKey !== 'arguments' || path.key !== index) return undefined;
      return 'error message text';
    },
  }),
];
