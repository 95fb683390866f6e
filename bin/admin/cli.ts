/**
 * What every command group of the admin CLI shares: its input and output (`AdminIo`), the parsed
 * options (`Args`), the context a command runs in, the errors that mean exit code 2, and the
 * shape of a command. bin/admin.ts assembles the groups' commands into its table.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { SecretStore } from '../../functions/core/admin/secrets';
import type { Environment } from '../../functions/core/config';
import { AppError } from '../../functions/core/errors';
import type { Runtime } from '../../functions/core/runtime';

/** Where the CLI reads and writes: injectable, so tests run it in-process. */
export interface AdminIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Environment;
  /** Fetches IdP metadata and discovery documents. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Receives the structured log lines of audit events; by default they go nowhere (the events are stored and published all the same). */
  readonly log?: (entry: Readonly<Record<string, unknown>>) => void;
  /** What `secrets set --stdin` reads. @default process.stdin to its end */
  readonly stdin?: () => Promise<string>;
}

/** Bad usage: exit code 2, with a pointer to the command's help. */
export class UsageError extends Error {}

/** Bad input (a file's or an option's content): exit code 2, the message naming what is wrong. */
export class InputError extends UsageError {}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
export type Values = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** The parsed options of one command, read as the types the core takes. */
export class Args {
  constructor(
    private readonly values: Values,
    private readonly io: AdminIo,
  ) {}

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === 'string' ? value : undefined;
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
    return value;
  }

  strings(name: string): string[] {
    const value = this.values[name];
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : [];
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  /** Whether the option was given at all. */
  given(name: string): boolean {
    const value = this.values[name];
    return value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0);
  }

  integer(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
    return Number(value);
  }

  /** A file path as the user typed it: relative to where `npm run` was started (npm itself runs in the package root). */
  path(file: string): string {
    return resolve(this.io.env.INIT_CWD ?? process.cwd(), file);
  }

  async readFile(name: string, file = this.required(name)): Promise<string> {
    try {
      return await readFile(this.path(file), 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : error instanceof Error ? error.message : String(error);
      throw new InputError(`--${name} ${file}: ${reason}`);
    }
  }

  async readJson(name: string): Promise<unknown> {
    const text = await this.readFile(name);
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new InputError(`--${name} ${this.required(name)}: not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
  }
}

/** Runs a parser of the admin's input, turning its `invalid_request` into a usage error naming the input. */
export async function input<T>(what: string, parse: () => T | Promise<T>): Promise<T> {
  try {
    return await parse();
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_request') throw new InputError(`${what}: ${error.detail ?? error.code}`);
    throw error;
  }
}

export interface Context {
  readonly runtime: Runtime;
  readonly io: AdminIo;
  readonly json: boolean;
  /** Secrets Manager under the stack's prefix, or the local secrets file. @throws Error when the target has neither. */
  readonly secrets: () => SecretStore;
}

export type Action = (context: Context) => Promise<number | void>;

export function print(context: Context, data: unknown, human: () => string): void {
  context.io.stdout.write(context.json ? `${JSON.stringify(data, null, 2)}\n` : `${human().replace(/\n+$/, '')}\n`);
}

export function note(context: Context, message: string): void {
  context.io.stderr.write(`note: ${message}\n`);
}

export interface Command {
  /** The command line, as the help shows it. */
  readonly synopsis: string;
  readonly summary: string;
  /** Option lines for the command's help. */
  readonly details?: readonly string[];
  readonly options: OptionsConfig;
  /** Checks the options and reads the input files, before any database is opened. */
  prepare(args: Args, io: AdminIo): Action | Promise<Action>;
}

/** What the CLI lends a command group that takes it (`scimCommands(kit)`): its output, and its bad-input error (exit code 2). */
export interface CommandKit {
  print(context: Context, data: unknown, human: () => string): void;
  inputError(message: string): Error;
}

/** A synchronous parse whose `invalid_request` is bad input (exit code 2), for the groups that take a kit. */
export function kitInput<T>(kit: CommandKit, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_request') throw kit.inputError(error.detail ?? error.code);
    throw error;
  }
}

/** A command group's commands, keyed by their words (`tenants add`). */
export type Commands = Readonly<Record<string, Command>>;

export const str = { type: 'string' } as const;
export const strs = { type: 'string', multiple: true } as const;
export const bool = { type: 'boolean' } as const;

/** Standard input to its end (what `secrets set --stdin` reads by default). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
