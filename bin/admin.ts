#!/usr/bin/env -S npx tsx
/**
 * The admin CLI: `npm run admin -- <command>` (or the package's `sso-admin` bin). Each command
 * parses its options into plain values, calls functions/core/admin, and prints the result for a
 * person, or as JSON with `--json`. It works on the local stack (the DynamoDB Local data of
 * `npm start`) unless `--stack NAME` names a deployed one.
 *
 * Exit codes: 0 done; 1 refused or not found (and a login `evaluate` says would be refused);
 * 2 bad usage or input.
 *
 * This file is the entry: it parses the command line, assembles the command table from the
 * groups of bin/admin/ (one module per command group), prints the help, opens the target
 * (bin/admin/target.ts) and turns errors into exit codes.
 */
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { secretStoreFromEnvironment, type SecretStore } from '../functions/core/admin/secrets';
import { AppError } from '../functions/core/errors';
import { runtimeFromEnvironment } from '../functions/core/runtime';
import { applyCommands } from './admin/apply';
import { auditCommands } from './admin/audit';
import { bool, InputError, print, str, UsageError, Args, type AdminIo, type Command, type CommandKit, type Commands, type Context, type OptionsConfig, type Values } from './admin/cli';
import { connectionCommands } from './admin/connections';
import { evaluateCommands } from './admin/evaluate';
import { scimCommands } from './admin/scim';
import { secretCommands } from './admin/secrets';
import { setupLinkCommands } from './admin/setup-links';
import { openTarget } from './admin/target';
import { tenantCommands } from './admin/tenants';
import { userCommands } from './admin/users';

export type { AdminIo } from './admin/cli';

/** What the CLI lends the command groups that take it (bin/admin/scim.ts's shape). */
const KIT: CommandKit = { print, inputError: (message: string) => new InputError(message) };

/** The command groups, in the order the help lists them: a new group is one line here. */
const COMMAND_GROUPS: readonly Commands[] = [
  tenantCommands,
  auditCommands,
  connectionCommands,
  secretCommands,
  userCommands,
  applyCommands,
  evaluateCommands,
  scimCommands(KIT),
  setupLinkCommands(KIT),
];

const COMMANDS: Commands = COMMAND_GROUPS.reduce<Record<string, Command>>((all, group) => {
  // A programmer's error: two groups must not quietly shadow each other's command.
  for (const key of Object.keys(group)) if (key in all) throw new Error(`admin command "${key}" is registered by two groups`);
  return Object.assign(all, group);
}, {});

// ---------------------------------------------------------------------------------------------
// Help

/** The words that name a group of verbs (`tenants`), for `tenants --help` and "tenants needs a verb". */
const GROUPS = [...new Set(Object.keys(COMMANDS).filter((key) => key.includes(' ')).map((key) => key.split(' ')[0]!))];
const GLOBAL_OPTIONS: OptionsConfig = { stack: str, json: bool, help: { type: 'boolean', short: 'h' } };

function usage(group?: string): string {
  const entries = Object.entries(COMMANDS).filter(([key]) => !group || key.startsWith(`${group} `));
  return [
    `Usage: npm run admin -- ${group ?? '<command>'}${group ? ' <verb>' : ''} [options] [--json] [--stack NAME]`,
    '',
    ...entries.flatMap(([, command]) => [`  ${command.synopsis}`, `      ${command.summary}`]),
    '',
    'Global options:',
    '  --json          print JSON for machines',
    '  --stack NAME    work on a deployed stack (its CloudFormation outputs); default: the local stack of npm start',
    '  -h, --help      this help; after a command, the command\'s',
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return [`Usage: npm run admin -- ${command.synopsis}`, '', `  ${command.summary}`, ...(command.details?.length ? ['', ...command.details.map((d) => `  ${d}`)] : []), '', '  --json, --stack NAME as for every command', ''].join('\n');
}

/** Splits `[globals] group verb [options]` into the command's words and the options around them. */
function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--stack') {
      rest.push(token, ...argv.slice(i + 1, i + 2));
      i++;
    } else if (token.startsWith('-')) {
      if (!['--json', '--help', '-h'].includes(token) && !token.startsWith('--stack=')) break;
      rest.push(token);
    } else {
      words.push(token);
      const prefix = `${words.join(' ')} `;
      if (COMMANDS[words.join(' ')] || !Object.keys(COMMANDS).some((name) => name.startsWith(prefix))) {
        i++;
        break;
      }
    }
  }
  return { words, rest: [...rest, ...argv.slice(i)] };
}

// ---------------------------------------------------------------------------------------------
// Entry

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

function errorMessage(error: unknown): string {
  if (error instanceof AppError) {
    const cause = error.cause instanceof Error ? ` (${firstLine(error.cause.message)})` : '';
    const plain = error.code === 'invalid_request' || error.code === 'not_found';
    return `${plain ? '' : `${error.code}: `}${error.detail ?? error.code}${error.code === 'service_unavailable' ? cause : ''}`;
  }
  return error instanceof Error ? firstLine(error.message) : String(error);
}

/** node:util parseArgs's refusals (unknown option, missing value), whatever realm threw them. */
function isParseArgsError(error: unknown): error is { code: string; message: string } {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS') && 'message' in error && typeof error.message === 'string';
}

/**
 * Runs one admin command. Never throws: bad usage is exit code 2, a refusal or an unknown id 1,
 * each with one line on stderr.
 */
export async function runAdmin(argv: readonly string[], io: AdminIo): Promise<number> {
  const { words, rest } = splitCommand(argv);
  const key = words.join(' ');
  const command = COMMANDS[key];
  try {
    if (!command) {
      const group = words[0] !== undefined && GROUPS.includes(words[0]) ? words[0] : undefined;
      const help = rest.includes('--help') || rest.includes('-h');
      if (help && (words.length === 0 || (group && words.length === 1))) {
        io.stdout.write(usage(group));
        return 0;
      }
      const problem = words.length === 0 ? 'no command given' : words.length === 1 && group ? `${group} needs a verb` : `unknown command "${key}"`;
      io.stderr.write(`error: ${problem}\n\n${usage(group)}`);
      return 2;
    }
    const { values }: { values: Values } = parseArgs({ args: [...rest], options: { ...GLOBAL_OPTIONS, ...command.options }, strict: true, allowPositionals: false });
    const args = new Args(values, io);
    if (args.flag('help')) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    const action = await command.prepare(args, io);
    const target = await openTarget(args.string('stack'), io);
    try {
      const runtime = await runtimeFromEnvironment(target.env);
      let secrets: SecretStore | undefined;
      const context: Context = { runtime: { ...runtime, log: io.log ?? (() => undefined) }, io, json: args.flag('json'), secrets: () => (secrets ??= secretStoreFromEnvironment(target.env)) };
      return (await action(context)) ?? 0;
    } finally {
      await target.close();
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr.write(`error: ${error.message}${error instanceof InputError ? '' : ` (see npm run admin -- ${key} --help)`}\n`);
      return 2;
    }
    io.stderr.write(`error: ${errorMessage(error)}\n`);
    return 1;
  }
}

const invokedAsScript = process.argv[1] !== undefined && existsSync(process.argv[1]) && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedAsScript) {
  // The SDK's notice that its 2027 releases will need Node 22 would be the only line on stderr of every command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.exitCode = await runAdmin(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
}
