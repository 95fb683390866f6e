/**
 * The admin CLI's `secrets set|list|remove`: the secrets connections name (Secrets Manager under
 * the stack's prefix, or .local/secrets.json locally); values are never printed.
 */
import { table } from '../../functions/core/admin/describe';
import { checkSecretName } from '../../functions/core/admin/secrets';
import { AppError } from '../../functions/core/errors';
import { bool, input, InputError, print, readStdin, str, UsageError, type Commands } from './cli';

/** The secret commands, keyed as bin/admin.ts's command table keys them. */
export const secretCommands: Commands = {
  'secrets set': {
    synopsis: 'secrets set --name NAME (--file FILE | --stdin)',
    summary: 'create a secret or give it a new value (a client secret, a private JWK, an SP private key); the value is never printed',
    details: ['--file FILE          the value is the file\'s content (one trailing newline dropped)', '--stdin              the value is standard input, to its end (one trailing newline dropped)'],
    options: { name: str, file: str, stdin: bool },
    async prepare(args, io) {
      const name = await input('--name', () => checkSecretName(args.required('name')));
      if ((args.string('file') === undefined) === !args.flag('stdin')) throw new UsageError('give either --file FILE or --stdin');
      const raw = args.flag('stdin') ? await (io.stdin ?? readStdin)() : await args.readFile('file');
      const value = raw.replace(/\r?\n$/, '');
      if (value === '') throw new InputError(`the value of ${name} is empty`);
      return async (context) => {
        const store = context.secrets();
        const outcome = await store.set(name, value);
        print(context, { name, [outcome]: true }, () => `${outcome} secret ${name} in ${store.where}`);
      };
    },
  },
  'secrets list': {
    synopsis: 'secrets list',
    summary: 'the secrets\' names and dates (never their values)',
    options: {},
    prepare: () => async (context) => {
      const secrets = await context.secrets().list();
      print(context, secrets, () => table(['SECRET', 'CREATED', 'UPDATED'], secrets.map((s) => [s.name, s.createdAt ?? '-', s.updatedAt ?? '-'])));
    },
  },
  'secrets remove': {
    synopsis: 'secrets remove --name NAME',
    summary: 'remove a secret at once (Secrets Manager: without a recovery window); a connection still naming it answers logins with service_unavailable',
    options: { name: str },
    async prepare(args) {
      const name = await input('--name', () => checkSecretName(args.required('name')));
      return async (context) => {
        const store = context.secrets();
        if (!(await store.remove(name))) throw new AppError('not_found', `there is no secret ${name} in ${store.where}`);
        print(context, { removed: name }, () => `removed secret ${name}`);
      };
    },
  },
};

