/**
 * The admin CLI's tenant commands: `tenants add|list|show|update|seats|remove` and `tenants
 * domains add|list|remove` (home-realm discovery).
 */
import { checkId } from '../../functions/core/admin/connections';
import { describeTenant, fields, seats, table } from '../../functions/core/admin/describe';
import { addTenant, removeTenant, requireTenant, updateTenant } from '../../functions/core/admin/tenants';
import { addDomains, listDomains, removeDomain, setDefaultConnection, type DomainReport } from '../../functions/core/admin/domains';
import type { User } from '../../functions/core/model';
import { input, note, print, str, strs, UsageError, type Args, type Commands, type Context } from './cli';

function tenantOf(args: Args): string {
  const id = args.string('tenant') ?? args.string('id');
  if (!id) throw new UsageError('--id is required (the tenant id)');
  return id;
}

function seatLimit(value: string, name: string): number | null {
  if (value === 'none') return null;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number of seats, or "none", got "${value}"`);
  return Number(value);
}

/** The tenant commands, keyed as bin/admin.ts's command table keys them. */
export const tenantCommands: Commands = {
  'tenants add': {
    synopsis: 'tenants add --id TENANT [--name NAME] [--seat-limit N]',
    summary: 'create a tenant',
    options: { id: str, name: str, 'seat-limit': str },
    async prepare(args) {
      const id = await input('--id', () => checkId(args.required('id'), 'the tenant id'));
      const tenant = { id, name: args.string('name') ?? id };
      const limit = args.integer('seat-limit');
      return async (context) => {
        const added = await addTenant(context.runtime.store, { ...tenant, ...(limit === undefined ? {} : { seatLimit: limit }) });
        print(context, added, () => describeTenant(added));
      };
    },
  },
  'tenants list': {
    synopsis: 'tenants list',
    summary: 'list the tenants with their seats',
    options: {},
    prepare: () => async (context) => {
      const tenants = await context.runtime.store.listTenants();
      print(context, tenants, () => table(['TENANT', 'NAME', 'SEATS'], tenants.map((t) => [t.id, t.name, seats(t)])));
    },
  },
  'tenants show': {
    synopsis: 'tenants show --id TENANT',
    summary: 'a tenant, its seats, connections and user counts',
    options: { id: str, tenant: str },
    prepare(args) {
      const tenantId = tenantOf(args);
      return async (context) => {
        const { store } = context.runtime;
        const tenant = await requireTenant(store, tenantId);
        const [connections, users] = await Promise.all([store.listConnections(tenantId), store.listUsers(tenantId)]);
        const count = (status: User['status']) => users.filter((u) => u.status === status).length;
        const data = { tenant, connections: connections.map(({ id, protocol, enabled }) => ({ id, protocol, enabled })), users: { active: count('active'), deactivated: count('deactivated') } };
        print(context, data, () =>
          fields([
            ['tenant', tenant.id],
            ['name', tenant.name],
            ['seats', seats(tenant)],
            ['users', `${data.users.active} active, ${data.users.deactivated} deactivated`],
            ['connections', connections.length ? connections.map((c) => `${c.id} (${c.protocol}${c.enabled ? '' : ', disabled'})`) : '(none)'],
          ]),
        );
      };
    },
  },
  'tenants update': {
    synopsis: 'tenants update --id TENANT [--name NAME] [--seat-limit N|none] [--default-connection C|none]',
    summary: 'rename a tenant, change its seat limit, or name the connection home-realm discovery picks among several',
    options: { id: str, tenant: str, name: str, 'seat-limit': str, 'default-connection': str },
    prepare(args) {
      const tenantId = tenantOf(args);
      const name = args.string('name');
      const limit = args.string('seat-limit');
      const defaultConnection = args.string('default-connection');
      if (name === undefined && limit === undefined && defaultConnection === undefined) throw new UsageError('nothing to change: give --name, --seat-limit or --default-connection');
      const change = { ...(name === undefined ? {} : { name }), ...(limit === undefined ? {} : { seatLimit: seatLimit(limit, 'seat-limit') }) };
      return async (context) => {
        if (defaultConnection !== undefined) await setDefaultConnection(context.runtime.store, tenantId, defaultConnection);
        const tenant = await updateTenant(context.runtime.store, tenantId, change);
        print(context, tenant, () => describeTenant(tenant));
      };
    },
  },
  'tenants seats': {
    synopsis: 'tenants seats --tenant TENANT --limit N|none',
    summary: 'set (or with "none" remove) the seat limit; a limit under the seats in use stops new users, deactivates nobody',
    options: { tenant: str, id: str, limit: str },
    prepare(args) {
      const tenantId = tenantOf(args);
      const limit = seatLimit(args.required('limit'), 'limit');
      return async (context) => {
        const tenant = await updateTenant(context.runtime.store, tenantId, { seatLimit: limit });
        print(context, tenant, () => describeTenant(tenant));
        if (tenant.seatLimit !== undefined && tenant.seatCount > tenant.seatLimit) note(context, `${tenant.seatCount} seats are in use, over the limit: no new user can be created until some are freed`);
      };
    },
  },
  // Home-realm discovery: a tenant's verified email domains.
  'tenants domains add': {
    synopsis: 'tenants domains add --tenant TENANT --domain DOMAIN... [--default-connection C]',
    summary: 'claim verified email domains for the tenant (one tenant per domain), for GET /login?email=',
    details: ['--domain DOMAIN      an email domain the tenant owns, e.g. acme.com (repeatable)', '--default-connection C  the connection discovery picks when the tenant has several enabled ones'],
    options: { tenant: str, id: str, domain: strs, 'default-connection': str },
    prepare(args) {
      const tenantId = tenantOf(args);
      const domains = args.strings('domain');
      if (domains.length === 0) throw new UsageError('--domain is required');
      const defaultConnectionId = args.string('default-connection');
      return async (context) => {
        const result = await input('--domain', () => addDomains(context.runtime.store, tenantId, domains, { ...(defaultConnectionId === undefined ? {} : { defaultConnectionId }), now: context.runtime.clock() }));
        printDomains(context, result);
      };
    },
  },
  'tenants domains list': {
    synopsis: 'tenants domains list --tenant TENANT',
    summary: "the tenant's email domains and the connection discovery sends them to",
    options: { tenant: str, id: str },
    prepare(args) {
      const tenantId = tenantOf(args);
      return async (context) => printDomains(context, await listDomains(context.runtime.store, tenantId));
    },
  },
  'tenants domains remove': {
    synopsis: 'tenants domains remove --tenant TENANT --domain DOMAIN',
    summary: 'release one of the tenant\'s email domains',
    options: { tenant: str, id: str, domain: str },
    prepare(args) {
      const tenantId = tenantOf(args);
      const domain = args.required('domain');
      return async (context) => printDomains(context, await input('--domain', () => removeDomain(context.runtime.store, tenantId, domain)));
    },
  },
  'tenants remove': {
    synopsis: 'tenants remove --id TENANT',
    summary: 'remove a tenant that has no connections and no users left',
    options: { id: str, tenant: str },
    prepare(args) {
      const tenantId = tenantOf(args);
      return async (context) => {
        await removeTenant(context.runtime.store, tenantId);
        print(context, { removed: tenantId }, () => `removed tenant ${tenantId}`);
      };
    },
  },
};

function printDomains(context: Context, report: DomainReport): void {
  const data = { tenantId: report.tenant.id, defaultConnectionId: report.tenant.defaultConnectionId, discoveryConnectionId: report.connectionId, domains: report.domains.map((d) => d.domain) };
  print(context, data, () =>
    fields([
      ['tenant', report.tenant.id],
      ['domains', report.domains.length ? report.domains.map((d) => d.domain) : '(none)'],
      ['default connection', report.tenant.defaultConnectionId ?? '(none)'],
      ['discovery sends to', report.connectionId ?? '(nowhere: refused)'],
    ]),
  );
  if (report.warning) note(context, report.warning);
}
