/**
 * The admin CLI's `users list|add|update|show|deactivate|reactivate|remove`.
 */
import { describeUser, table } from '../../functions/core/admin/describe';
import { requireTenant } from '../../functions/core/admin/tenants';
import { addUser, deactivateUser, reactivateUser, removeUser, requireUser, updateUser, type UserRef } from '../../functions/core/admin/users';
import { print, str, strs, UsageError, type Args, type Commands } from './cli';

const USER_HELP = ['--id USER            the user id', '--tenant T --email E the tenant\'s user of this email, instead of --id'];

function userRef(args: Args): UserRef {
  const userId = args.string('id');
  const email = args.string('email');
  if (userId !== undefined && email === undefined) return { userId };
  if (userId === undefined && email !== undefined) return { tenantId: args.required('tenant'), email };
  throw new UsageError('name the user with --id USER, or with --tenant TENANT --email EMAIL');
}

/** The user commands, keyed as bin/admin.ts's command table keys them. */
export const userCommands: Commands = {
  'users list': {
    synopsis: 'users list --tenant T',
    summary: 'list a tenant\'s users',
    options: { tenant: str },
    prepare(args) {
      const tenantId = args.required('tenant');
      return async (context) => {
        await requireTenant(context.runtime.store, tenantId);
        const users = await context.runtime.store.listUsers(tenantId);
        print(context, users, () => table(['USER', 'EMAIL', 'NAME', 'STATUS', 'ROLES'], users.map((u) => [u.id, u.email ?? '-', u.name ?? '-', u.status, u.roles.join(',')])));
      };
    },
  },
  'users add': {
    synopsis: 'users add --tenant T --email EMAIL [--name NAME] [--role ROLE...]',
    summary: 'add a user ahead of its first login, taking a seat (for connections with JIT off; its login joins it by email where the connection links by email)',
    options: { tenant: str, email: str, name: str, role: strs },
    prepare(args) {
      const input = { tenantId: args.required('tenant'), email: args.required('email'), name: args.string('name'), roles: args.strings('role') };
      if (input.roles.length === 0) throw new UsageError('--role is required at least once: a user never has no role');
      return async (context) => {
        const user = await addUser(context.runtime, { ...input, ...(input.name === undefined ? {} : { name: input.name }) });
        print(context, user, () => `added user ${user.id} (${user.email})`);
      };
    },
  },
  'users update': {
    synopsis: 'users update (--id USER | --tenant T --email EMAIL) [--name NAME] [--role ROLE...]',
    summary: "change a user's name or roles (audited: user.updated); what the IdP owns, logins set again as the connection's update policies say",
    details: USER_HELP,
    options: { id: str, tenant: str, email: str, name: str, role: strs },
    prepare(args) {
      const ref = userRef(args);
      const name = args.string('name');
      const roles = args.strings('role');
      if (name === undefined && roles.length === 0) throw new UsageError('give --name or --role');
      return async (context) => {
        const { user, changed } = await updateUser(context.runtime, ref, { ...(name === undefined ? {} : { name }), ...(roles.length ? { roles } : {}) });
        print(context, user, () => (changed ? `updated user ${user.id}` : `user ${user.id} already looks like that`));
      };
    },
  },
  'users show': {
    synopsis: 'users show (--id USER | --tenant T --email EMAIL)',
    summary: 'a user',
    details: USER_HELP,
    options: { id: str, tenant: str, email: str },
    prepare(args) {
      const ref = userRef(args);
      return async (context) => {
        const user = await requireUser(context.runtime.store, ref);
        print(context, user, () => describeUser(user));
      };
    },
  },
  'users deactivate': {
    synopsis: 'users deactivate (--id USER | --tenant T --email EMAIL)',
    summary: 'deactivate a user: its seat is freed, its sessions stop working, its logins are refused (audited: user.deactivated)',
    details: USER_HELP,
    options: { id: str, tenant: str, email: str },
    prepare(args) {
      const ref = userRef(args);
      return async (context) => {
        const { user, changed } = await deactivateUser(context.runtime, ref);
        print(context, user, () => (changed ? `deactivated user ${user.id} (${user.email ?? 'no email'})` : `user ${user.id} was deactivated already`));
      };
    },
  },
  'users reactivate': {
    synopsis: 'users reactivate (--id USER | --tenant T --email EMAIL)',
    summary: 'reactivate a user, taking a seat under the tenant\'s limit (audited: user.reactivated)',
    details: USER_HELP,
    options: { id: str, tenant: str, email: str },
    prepare(args) {
      const ref = userRef(args);
      return async (context) => {
        const { user, changed } = await reactivateUser(context.runtime, ref);
        print(context, user, () => (changed ? `reactivated user ${user.id} (${user.email ?? 'no email'})` : `user ${user.id} was active already`));
      };
    },
  },
  'users remove': {
    synopsis: 'users remove (--id USER | --tenant T --email EMAIL)',
    summary: 'remove a user with its identity links, freeing its seat (audited: user.removed)',
    details: USER_HELP,
    options: { id: str, tenant: str, email: str },
    prepare(args) {
      const ref = userRef(args);
      return async (context) => {
        const user = await removeUser(context.runtime, ref);
        print(context, { removed: user.id }, () => `removed user ${user.id} (${user.email ?? 'no email'})`);
      };
    },
  },
};

