#!/usr/bin/env -S npx tsx
/**
 * The admin CLI: `npm run admin -- <command>` (or the package's `sso-admin` bin). Each command
 * parses its options into plain values, calls functions/core/admin, and prints the result for a
 * person, or as JSON with `--json`. It works on the local stack (the DynamoDB Local data of
 * `npm start`) unless `--stack NAME` names a deployed one.
 *
 * Exit codes: 0 done; 1 refused or not found (and a login `evaluate` says would be refused);
 * 2 bad usage or input.
 */
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { planConfiguration, type PlanStep } from '../functions/core/admin/apply';
import { parseConfiguration, parseConfigurationText } from '../functions/core/admin/apply-file';
import { addConnection, changedConnection, requireSigningKey, checkId, discoverIssuer, newOidcConnection, newSamlConnection, parseCertificates, requireConnection, resolveIdp, type ConnectionChange, type IdpSource, type OidcSettings, type SamlSettings } from '../functions/core/admin/connections';
import { describeConnection, describeLoginReport, describeTenant, describeUser, fields, seats, table } from '../functions/core/admin/describe';
import { evaluateLoginInput, parseClaims, samlResponseFromText, type LoginInput } from '../functions/core/admin/evaluation';
import { parseConnectionPolicy, parseReturnTarget, policyWarnings, type ConnectionPolicy } from '../functions/core/admin/policy';
import { checkSecretName, requireSecret, secretStoreFromEnvironment, type SecretStore } from '../functions/core/admin/secrets';
import { addExistingSpKey, addGeneratedSpKey, describeSpKeys, retireSpKey, type SpKeyInfo } from '../functions/core/admin/sp-keys';
import { stackEnvironment } from '../functions/core/admin/stack';
import { addTenant, removeTenant, requireTenant, updateTenant } from '../functions/core/admin/tenants';
import { describeAuditEvent, listAuditEvents, parseSince } from '../functions/core/admin/audit';
import { addDomains, listDomains, removeDomain, setDefaultConnection, type DomainReport } from '../functions/core/admin/domains';
import { addUser, deactivateUser, reactivateUser, removeUser, requireUser, updateUser, type UserRef } from '../functions/core/admin/users';
import type { Environment } from '../functions/core/config';
import { AppError } from '../functions/core/errors';
import type { Connection, OidcConnection, SpKey, User } from '../functions/core/model';
import { runtimeFromEnvironment, type Runtime } from '../functions/core/runtime';
import { spEndpoints, spMetadata } from '../functions/core/saml/service-provider';
import { expiringCertificates, type IdpMetadata } from '../functions/core/saml/idp-metadata';
import { createDocumentClient, ensureTable } from '../functions/core/store/store';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { scimCommands } from './admin/scim';

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
class UsageError extends Error {}

/** Bad input (a file's or an option's content): exit code 2, the message naming what is wrong. */
class InputError extends UsageError {}

const LOCAL_DATA = new URL('../.local/', import.meta.url);
const LOCAL_TABLE = 'sso-local';

// ---------------------------------------------------------------------------------------------
// Options

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Values = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** The parsed options of one command, read as the types the core takes. */
class Args {
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
async function input<T>(what: string, parse: () => T | Promise<T>): Promise<T> {
  try {
    return await parse();
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_request') throw new InputError(`${what}: ${error.detail ?? error.code}`);
    throw error;
  }
}

async function readPolicy(args: Args): Promise<ConnectionPolicy | undefined> {
  if (args.string('policy') === undefined) return undefined;
  const json = await args.readJson('policy');
  return input(`--policy ${args.required('policy')}`, () => parseConnectionPolicy(json));
}

function returnTargets(args: Args, policy: ConnectionPolicy | undefined): ConnectionPolicy | undefined {
  const extra = args.strings('return-to').map((url) => {
    try {
      return parseReturnTarget(url, '--return-to');
    } catch (error) {
      throw new InputError(error instanceof AppError ? (error.detail ?? error.code) : String(error));
    }
  });
  if (extra.length === 0) return policy;
  return { ...policy, returnToAllowlist: [...new Set([...(policy?.returnToAllowlist ?? []), ...extra])] };
}

function userRef(args: Args): UserRef {
  const userId = args.string('id');
  const email = args.string('email');
  if (userId !== undefined && email === undefined) return { userId };
  if (userId === undefined && email !== undefined) return { tenantId: args.required('tenant'), email };
  throw new UsageError('name the user with --id USER, or with --tenant TENANT --email EMAIL');
}

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

// ---------------------------------------------------------------------------------------------
// Output

interface Context {
  readonly runtime: Runtime;
  readonly io: AdminIo;
  readonly json: boolean;
  /** Secrets Manager under the stack's prefix, or the local secrets file. @throws Error when the target has neither. */
  readonly secrets: () => SecretStore;
}

type Action = (context: Context) => Promise<number | void>;

function print(context: Context, data: unknown, human: () => string): void {
  context.io.stdout.write(context.json ? `${JSON.stringify(data, null, 2)}\n` : `${human().replace(/\n+$/, '')}\n`);
}

function note(context: Context, message: string): void {
  context.io.stderr.write(`note: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Commands

interface Command {
  /** The command line, as the help shows it. */
  readonly synopsis: string;
  readonly summary: string;
  /** Option lines for the command's help. */
  readonly details?: readonly string[];
  readonly options: OptionsConfig;
  /** Checks the options and reads the input files, before any database is opened. */
  prepare(args: Args, io: AdminIo): Action | Promise<Action>;
}

const AUTH_METHODS: readonly OidcConnection['tokenEndpointAuthMethod'][] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

const str = { type: 'string' } as const;
const strs = { type: 'string', multiple: true } as const;
const bool = { type: 'boolean' } as const;

const POLICY_HELP = '--policy FILE.json   provisioning policy: jit, attributeMapping, roles, returnToAllowlist, linkByEmail, allowedEmailDomains (members given replace the connection\'s)';
const RETURN_TO_HELP = '--return-to URL      a URL prefix return_to/RelayState may point into (repeatable)';
const USER_HELP = ['--id USER            the user id', '--tenant T --email E the tenant\'s user of this email, instead of --id'];

const COMMANDS: Readonly<Record<string, Command>> = {
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
  'audit list': {
    synopsis: 'audit list --tenant TENANT [--since 7d|ISO] [--type TYPE] [--user USER|EMAIL]',
    summary: "the tenant's audit trail, oldest first: logins, refusals with their codes, provisioning changes (kept 90 days)",
    details: ['--since 7d|ISO       from when: an age (30m, 12h, 7d) or an ISO date or instant (default 7d)', '--type TYPE          one event type, e.g. login.refused or user.created', '--user USER|EMAIL    one user, by id or by email'],
    options: { tenant: str, since: str, type: str, user: str },
    prepare(args) {
      const tenantId = args.required('tenant');
      const since = args.string('since');
      const type = args.string('type');
      const user = args.string('user');
      return async (context) => {
        const now = context.runtime.clock();
        const sinceDate = since === undefined ? undefined : await input('--since', () => parseSince(since, now));
        const userId = user === undefined ? undefined : user.includes('@') ? (await requireUser(context.runtime.store, { tenantId, email: user })).id : user;
        const events = await listAuditEvents(context.runtime.store, { tenantId, now, ...(sinceDate ? { since: sinceDate } : {}), ...(type ? { type } : {}), ...(userId ? { userId } : {}) });
        print(context, events, () => (events.length ? events.map(describeAuditEvent).join('\n') : '(no events)'));
      };
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

  'connections add-saml': {
    synopsis:
      'connections add-saml --tenant T --id C (--metadata FILE|URL | --entity-id ID --sso-url URL --cert FILE...) [--sp-entity-id ID] [--acs-url URL] [--allow-sha1] [--allow-idp-initiated] [--clock-skew S] [--max-issue-age S] [--subject-attribute NAME] [--return-to URL...] [--policy FILE.json] [--name NAME] [--disabled]',
    summary: 'add a SAML connection from the IdP metadata (a file, or an https URL kept for the scheduled refresh) or its settings',
    details: [
      '--metadata FILE|URL  the IdP metadata XML: entity id, HTTP-Redirect SSO URL, signing certificates',
      '--entity-id, --sso-url, --cert FILE   the same, given one by one (--cert repeatable: a rotation)',
      '--sp-entity-id ID    keep another SP\'s entity id (default <base>/saml/<id>/metadata)',
      '--acs-url URL        keep another SP\'s ACS URL (default <base>/saml/<id>/acs)',
      '--allow-sha1         accept RSA-SHA1 signatures and SHA-1 digests',
      '--allow-idp-initiated   accept responses without InResponseTo',
      '--clock-skew S       seconds of skew allowed (default 120)',
      '--max-issue-age S    how old an IssueInstant may be, the skew added (default 300)',
      '--subject-attribute NAME   the IdP attribute that identifies users instead of the NameID (needed where the IdP sends a transient NameID)',
      RETURN_TO_HELP,
      POLICY_HELP,
    ],
    options: {
      tenant: str, id: str, name: str, metadata: str, 'entity-id': str, 'sso-url': str, cert: strs, 'sp-entity-id': str, 'acs-url': str,
      'allow-sha1': bool, 'allow-idp-initiated': bool, 'clock-skew': str, 'max-issue-age': str, 'subject-attribute': str, 'return-to': strs, policy: str, disabled: bool,
    },
    async prepare(args, io) {
      const tenantId = args.required('tenant');
      const id = await input('--id', () => checkId(args.required('id'), 'the connection id'));
      const metadata = args.string('metadata');
      const explicit = ['entity-id', 'sso-url'].some((name) => args.string(name) !== undefined) || args.strings('cert').length > 0;
      if ((metadata === undefined) === !explicit) throw new UsageError('give either --metadata FILE|URL, or --entity-id, --sso-url and --cert');
      let source: IdpSource;
      if (metadata !== undefined) {
        source = /^https?:\/\//i.test(metadata) ? { metadataUrl: metadata } : { metadataXml: await args.readFile('metadata') };
      } else {
        const certificates: string[] = [];
        for (const file of args.strings('cert')) certificates.push(...(await input(`--cert ${file}`, async () => parseCertificates(await args.readFile('cert', file)))));
        if (certificates.length === 0) throw new UsageError('--cert is required with --entity-id and --sso-url');
        const idp: IdpMetadata = { entityId: args.required('entity-id'), ssoUrl: args.required('sso-url'), certificates };
        source = { idp };
      }
      const acsUrl = args.string('acs-url');
      if (acsUrl !== undefined) await input('--acs-url', () => parseReturnTarget(acsUrl, 'the ACS URL'));
      const policy = returnTargets(args, await readPolicy(args));
      const resolved = await input(metadata === undefined ? '--sso-url' : `--metadata ${metadata}`, () => resolveIdp(source, io.fetch));
      const clockSkewSeconds = args.integer('clock-skew');
      const connection = newSamlConnection({
        id,
        tenantId,
        ...resolved,
        ...(args.string('name') ? { displayName: args.required('name') } : {}),
        ...(args.string('sp-entity-id') ? { spEntityId: args.required('sp-entity-id') } : {}),
        ...(acsUrl ? { acsUrl } : {}),
        allowSha1: args.flag('allow-sha1'),
        allowIdpInitiated: args.flag('allow-idp-initiated'),
        ...(clockSkewSeconds === undefined ? {} : { clockSkewSeconds }),
        ...(args.string('subject-attribute') ? { subjectAttribute: args.required('subject-attribute') } : {}),
        ...(args.integer('max-issue-age') === undefined ? {} : { maxIssueAgeSeconds: args.integer('max-issue-age')! }),
        enabled: !args.flag('disabled'),
        ...(policy ? { policy } : {}),
      });
      return (context) => added(context, connection);
    },
  },
  'connections add-oidc': {
    synopsis:
      'connections add-oidc --tenant T --id C --issuer URL --client-id ID --client-secret-name NAME [--auth client_secret_basic|client_secret_post|private_key_jwt] [--scopes "openid email profile"] [--entra-tenant ID...] [--return-to URL...] [--policy FILE.json] [--name NAME] [--disabled]',
    summary: 'add an OIDC connection, checking the issuer\'s discovery document (<issuer>/.well-known/openid-configuration)',
    details: [
      '--client-secret-name NAME   the secret holding the client secret (or the private JWK for private_key_jwt): Secrets Manager <SecretsPrefix>NAME, or .local/secrets.json locally',
      '--auth METHOD        token endpoint authentication (default client_secret_basic); must be one the provider offers',
      '--entra-tenant ID    for a multi-tenant Entra ID issuer: a directory (tid) that may sign in (repeatable)',
      RETURN_TO_HELP,
      POLICY_HELP,
    ],
    options: {
      tenant: str, id: str, name: str, issuer: str, 'client-id': str, 'client-secret-name': str, auth: str, scopes: str, 'entra-tenant': strs,
      'return-to': strs, policy: str, disabled: bool,
    },
    async prepare(args, io) {
      const tenantId = args.required('tenant');
      const id = await input('--id', () => checkId(args.required('id'), 'the connection id'));
      const issuer = args.required('issuer');
      const clientId = args.required('client-id');
      const clientSecretName = args.required('client-secret-name');
      const auth = args.string('auth');
      const method = AUTH_METHODS.find((m) => m === auth);
      if (auth !== undefined && !method) throw new UsageError(`--auth must be one of ${AUTH_METHODS.join(', ')}, got "${auth}"`);
      const scopes = args.string('scopes')?.split(/[\s,]+/).filter(Boolean);
      if (scopes && !scopes.includes('openid')) throw new UsageError('--scopes must include openid');
      const policy = returnTargets(args, await readPolicy(args));
      const discovered = await input(`--issuer ${issuer}`, () => discoverIssuer(issuer, io.fetch));
      const connection = await input(`--issuer ${issuer}`, () =>
        newOidcConnection({
          id,
          tenantId,
          discovered,
          clientId,
          clientSecretName,
          ...(method ? { tokenEndpointAuthMethod: method } : {}),
          ...(scopes ? { scopes } : {}),
          allowedEntraTenants: args.strings('entra-tenant'),
          ...(args.string('name') ? { displayName: args.required('name') } : {}),
          enabled: !args.flag('disabled'),
          ...(policy ? { policy } : {}),
        }),
      );
      return async (context) => {
        await requireSecret(context.secrets(), clientSecretName, 'the client secret');
        await added(context, connection);
      };
    },
  },
  'connections list': {
    synopsis: 'connections list [--tenant T]',
    summary: 'list the connections of a tenant, or of every tenant',
    options: { tenant: str },
    prepare(args) {
      const tenantId = args.string('tenant');
      return async (context) => {
        const { store } = context.runtime;
        const tenantIds = tenantId ? [(await requireTenant(store, tenantId)).id] : (await store.listTenants()).map((t) => t.id);
        const connections = (await Promise.all(tenantIds.map((id) => store.listConnections(id)))).flat();
        print(context, connections, () =>
          table(
            ['CONNECTION', 'TENANT', 'PROTOCOL', 'STATUS', 'IDP'],
            connections.map((c) => [c.id, c.tenantId, c.protocol, c.enabled ? 'enabled' : 'disabled', c.protocol === 'saml' ? c.idpEntityId : c.issuer]),
          ),
        );
      };
    },
  },
  'connections show': {
    synopsis: 'connections show --id C',
    summary: 'a connection: its IdP, its SP endpoints or redirect URI, and its policy (--json: the whole item)',
    options: { id: str },
    prepare(args) {
      const id = args.required('id');
      return async (context) => {
        const connection = await requireConnection(context.runtime.store, id);
        print(context, connection, () => describeConnection(connection, context.runtime.config.publicBaseUrl));
      };
    },
  },
  'connections update': {
    synopsis:
      'connections update --id C [--name NAME] [--enable | --disable] [--policy FILE.json] [--return-to URL...] SAML: [--metadata FILE|URL] [--entity-id ID] [--sso-url URL] [--cert FILE...] [--sp-entity-id ID] [--acs-url URL] [--clock-skew S] [--max-issue-age S] [--[no-]allow-sha1] [--[no-]allow-idp-initiated] [--[no-]sign-authn-requests] [--subject-attribute NAME | --no-subject-attribute] OIDC: [--issuer URL] [--client-id ID] [--client-secret-name NAME] [--auth METHOD] [--scopes "..."] [--id-token-alg ALG...] [--entra-tenant ID...]',
    summary: 'change a connection, as its next version (refused if someone changed it meanwhile); an option of the other protocol is refused',
    details: [
      POLICY_HELP,
      '--return-to URL      replaces the return_to allowlist with these prefixes (repeatable)',
      '--metadata FILE|URL  SAML: re-read the IdP metadata; new certificates are added beside the old ones',
      '--cert FILE          SAML: replaces the IdP certificates (repeatable: give the old and the new for a rotation overlap)',
      '--entity-id, --sso-url, --sp-entity-id, --acs-url, --clock-skew S, --max-issue-age S, --allow-sha1/--no-allow-sha1, --allow-idp-initiated/--no-allow-idp-initiated   SAML, as for add-saml',
      '--sign-authn-requests, --no-sign-authn-requests   SAML: sign AuthnRequests with the newest SP signing key (or stop; an IdP whose metadata wants them signed gets them signed all the same)',
      '--subject-attribute NAME   SAML: the IdP attribute that identifies users instead of the NameID (needed for a transient NameID); --no-subject-attribute goes back to the NameID',
      '--issuer, --client-id, --client-secret-name, --auth, --scopes, --entra-tenant (repeatable: replaces the list)   OIDC, as for add-oidc; checked against the discovery document',
      '--id-token-alg ALG   OIDC: an accepted ID token algorithm (repeatable; asymmetric only: RS256, PS256, ES256, EdDSA...)',
    ],
    options: {
      id: str, policy: str, enable: bool, disable: bool, name: str, metadata: str, 'return-to': strs,
      'entity-id': str, 'sso-url': str, cert: strs, 'sp-entity-id': str, 'acs-url': str, 'clock-skew': str, 'max-issue-age': str,
      'allow-sha1': bool, 'no-allow-sha1': bool, 'allow-idp-initiated': bool, 'no-allow-idp-initiated': bool,
      'sign-authn-requests': bool, 'no-sign-authn-requests': bool, 'subject-attribute': str, 'no-subject-attribute': bool,
      issuer: str, 'client-id': str, 'client-secret-name': str, auth: str, scopes: str, 'id-token-alg': strs, 'entra-tenant': strs,
    },
    async prepare(args, io) {
      const id = args.required('id');
      const toggle = (name: string): boolean | undefined => {
        if (args.flag(name) && args.flag(`no-${name}`)) throw new UsageError(`give --${name} or --no-${name}, not both`);
        return args.flag(name) ? true : args.flag(`no-${name}`) ? false : undefined;
      };
      if (args.flag('enable') && args.flag('disable')) throw new UsageError('give --enable or --disable, not both');
      const policy = returnTargets(args, await readPolicy(args));
      const metadata = args.string('metadata');
      const idp =
        metadata === undefined
          ? undefined
          : await input(`--metadata ${metadata}`, async () =>
              resolveIdp(/^https?:\/\//i.test(metadata) ? { metadataUrl: metadata } : { metadataXml: await args.readFile('metadata') }, io.fetch),
            );
      const certificates: string[] = [];
      for (const file of args.strings('cert')) certificates.push(...(await input(`--cert ${file}`, async () => parseCertificates(await args.readFile('cert', file)))));
      const defined = <T extends object>(settings: T): T => Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as T;
      const saml: SamlSettings = defined({
        idpEntityId: args.string('entity-id'),
        idpSsoUrl: args.string('sso-url'),
        idpCertificates: certificates.length ? certificates : undefined,
        spEntityId: args.string('sp-entity-id'),
        acsUrl: args.string('acs-url'),
        clockSkewSeconds: args.integer('clock-skew'),
        maxIssueAgeSeconds: args.integer('max-issue-age'),
        allowSha1: toggle('allow-sha1'),
        allowIdpInitiated: toggle('allow-idp-initiated'),
        signAuthnRequests: toggle('sign-authn-requests'),
        subjectAttribute: args.flag('no-subject-attribute') ? (args.given('subject-attribute') ? undefined : null) : args.string('subject-attribute'),
      });
      if (args.flag('no-subject-attribute') && args.given('subject-attribute')) throw new UsageError('give --subject-attribute or --no-subject-attribute, not both');
      const scopes = args.string('scopes')?.split(/[\s,]+/).filter(Boolean);
      if (scopes && !scopes.includes('openid')) throw new UsageError('--scopes must include openid');
      const auth = args.string('auth');
      const method = AUTH_METHODS.find((m) => m === auth);
      if (auth !== undefined && !method) throw new UsageError(`--auth must be one of ${AUTH_METHODS.join(', ')}, got "${auth}"`);
      const oidc: OidcSettings = defined({
        issuer: args.string('issuer'),
        clientId: args.string('client-id'),
        clientSecretName: args.string('client-secret-name'),
        tokenEndpointAuthMethod: method,
        scopes,
        idTokenSigningAlgorithms: args.strings('id-token-alg').length ? args.strings('id-token-alg') : undefined,
        allowedEntraTenants: args.strings('entra-tenant').length ? args.strings('entra-tenant') : undefined,
      });
      const change: ConnectionChange = {
        ...(policy ? { policy } : {}),
        ...(args.flag('enable') ? { enabled: true } : args.flag('disable') ? { enabled: false } : {}),
        ...(args.string('name') !== undefined ? { displayName: args.required('name') } : {}),
        ...(idp ? { idp } : {}),
        ...(Object.keys(saml).length ? { saml } : {}),
        ...(Object.keys(oidc).length ? { oidc } : {}),
      };
      if (Object.keys(change).length === 0) throw new UsageError('nothing to change: give an option to change (see --help)');
      // The options of the other protocol, named as the admin typed them.
      const given = (names: readonly string[]) => names.find((name) => args.given(name));
      const samlOnly = given(['metadata', 'entity-id', 'sso-url', 'cert', 'sp-entity-id', 'acs-url', 'clock-skew', 'max-issue-age', 'allow-sha1', 'no-allow-sha1', 'allow-idp-initiated', 'no-allow-idp-initiated', 'sign-authn-requests', 'no-sign-authn-requests', 'subject-attribute', 'no-subject-attribute']);
      const oidcOnly = given(['issuer', 'client-id', 'client-secret-name', 'auth', 'scopes', 'id-token-alg', 'entra-tenant']);
      return async (context) => {
        const current = await requireConnection(context.runtime.store, id);
        const misfit = current.protocol === 'saml' ? oidcOnly : samlOnly;
        if (misfit) throw new InputError(`--${misfit} is for ${current.protocol === 'saml' ? 'OIDC' : 'SAML'} connections; ${id} is ${current.protocol === 'saml' ? 'a SAML' : 'an OIDC'} connection`);
        // A missing signing key is a refusal of this connection's state (exit 1), not bad input.
        if (saml.signAuthnRequests && current.protocol === 'saml') requireSigningKey(current);
        const next = await input(`connection ${id}`, () => changedConnection(current, change, io.fetch));
        const connection = await context.runtime.store.updateConnection(next);
        print(context, connection, () => describeConnection(connection, context.runtime.config.publicBaseUrl));
        for (const warning of policyWarnings(connection)) note(context, warning);
      };
    },
  },
  'connections remove': {
    synopsis: 'connections remove --id C',
    summary: 'remove a connection; its users stay (they may sign in through another)',
    options: { id: str },
    prepare(args) {
      const id = args.required('id');
      return async (context) => {
        await requireConnection(context.runtime.store, id);
        await context.runtime.store.removeConnection(id);
        print(context, { removed: id }, () => `removed connection ${id}`);
      };
    },
  },
  'connections metadata': {
    synopsis: 'connections metadata --id C',
    summary: 'the SP metadata XML of a SAML connection, for the IdP admin (--json: with the entity id and ACS URL)',
    options: { id: str },
    prepare(args) {
      const id = args.required('id');
      return async (context) => {
        const connection = await requireConnection(context.runtime.store, id);
        if (connection.protocol !== 'saml') throw new AppError('invalid_request', `connection ${id} is an OIDC connection; SP metadata is for SAML ones`);
        const endpoints = spEndpoints(connection, context.runtime.config.publicBaseUrl);
        const metadata = spMetadata(connection, endpoints);
        print(context, { ...endpoints, metadata }, () => metadata);
      };
    },
  },
  'connections sp-keys': {
    synopsis: 'connections sp-keys --id C [--generate --use encryption|signing | --add --use encryption|signing --cert FILE --secret NAME | --retire KEY_ID|FINGERPRINT]',
    summary: 'list, generate (RSA 3072, self-signed certificate, private key kept as a secret), add or retire the SP keys of a SAML connection',
    details: [
      '--generate --use U   a new key beside the old ones (a rotation: the metadata lists both, decryption tries each, signing takes the newest)',
      '--add --use U --cert FILE --secret NAME   a key you bring: its certificate, and the secret already holding its PEM private key',
      '--retire KEY         drop a key (its id, or its certificate\'s SHA-256 fingerprint) and remove its secret',
    ],
    options: { id: str, generate: bool, add: bool, use: str, cert: str, secret: str, retire: str },
    async prepare(args) {
      const id = args.required('id');
      const modes = ['generate', 'add'].filter((m) => args.flag(m)).length + (args.string('retire') === undefined ? 0 : 1);
      if (modes > 1) throw new UsageError('give one of --generate, --add or --retire');
      const uses: readonly SpKey['use'][] = ['encryption', 'signing'];
      const useOption = () => {
        const use = uses.find((u) => u === args.required('use'));
        if (!use) throw new UsageError(`--use must be encryption or signing, got "${args.required('use')}"`);
        return use;
      };
      const shown = (context: Context, key: SpKeyInfo, verb: string) =>
        print(context, key, () => `${verb} ${key.use} key ${key.id} of ${id} (certificate SHA-256 ${key.fingerprint}, expires ${key.expiresAt.slice(0, 10)}; private key in secret ${key.secretName})`);
      if (args.flag('generate')) {
        const use = useOption();
        return async (context) => {
          const { key } = await addGeneratedSpKey(context.runtime.store, context.secrets(), id, use, context.runtime.clock());
          shown(context, key, 'generated');
          note(context, `give the IdP admin the new SP metadata: npm run admin -- connections metadata --id ${id}`);
        };
      }
      if (args.flag('add')) {
        const use = useOption();
        const certs = await input(`--cert ${args.required('cert')}`, async () => parseCertificates(await args.readFile('cert')));
        if (certs.length !== 1) throw new InputError(`--cert ${args.required('cert')}: holds ${certs.length} certificates, give one`);
        const secretName = await input('--secret', () => checkSecretName(args.required('secret')));
        return async (context) => {
          const { key } = await addExistingSpKey(context.runtime.store, context.secrets(), id, { use, certificate: certs[0]!, secretName }, context.runtime.clock());
          shown(context, key, 'added');
        };
      }
      const retire = args.string('retire');
      if (retire !== undefined) {
        return async (context) => {
          const { key, secretRemoved } = await retireSpKey(context.runtime.store, context.secrets(), id, retire);
          shown(context, key, 'retired');
          if (!secretRemoved) note(context, `its secret ${key.secretName} was gone already`);
        };
      }
      return async (context) => {
        const connection = await requireConnection(context.runtime.store, id);
        if (connection.protocol !== 'saml') throw new AppError('invalid_request', `connection ${id} is an OIDC connection; SP keys are for SAML ones`);
        const keys = describeSpKeys(connection);
        print(context, keys, () => table(['KEY', 'USE', 'CREATED', 'EXPIRES', 'SECRET', 'SHA-256'], keys.map((k) => [k.id, k.use, k.createdAt.slice(0, 10), k.expiresAt.slice(0, 10), k.secretName, k.fingerprint])));
      };
    },
  },

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

  apply: {
    synopsis: 'apply --file FILE [--dry-run] [--prune]',
    summary: 'make the tenants and connections what a JSON or YAML file says (prints the plan, then applies it; applying it again changes nothing)',
    details: [
      '--file FILE          { tenants: [{ id, name, seatLimit }], connections: [{ id, tenantId, protocol, ... }] } (.json: JSON, otherwise YAML)',
      '--dry-run            print the plan, write nothing',
      '--prune              also remove the connections of the file\'s tenants that the file does not list (tenants are never removed)',
    ],
    options: { file: str, 'dry-run': bool, prune: bool },
    async prepare(args, io) {
      const name = args.required('file');
      const text = await args.readFile('file');
      const configuration = await input(`--file ${name}`, () => parseConfiguration(parseConfigurationText(text, name)));
      const dryRun = args.flag('dry-run');
      return async (context) => {
        const plan = await input(`--file ${name}`, () => planConfiguration(context.runtime, configuration, { prune: args.flag('prune'), ...(io.fetch ? { fetch: io.fetch } : {}) }));
        const changes = plan.steps.filter((step) => step.action !== 'unchanged').length;
        if (!context.json) {
          print(context, plan.steps, () => table(['KIND', 'ID', 'ACTION'], plan.steps.map((s) => [s.kind, s.id, describeStep(s)])));
        }
        for (const warning of plan.warnings) note(context, warning);
        if (!dryRun) await plan.apply();
        if (context.json) print(context, { dryRun, applied: !dryRun && changes > 0, steps: plan.steps, warnings: plan.warnings }, () => '');
        else print(context, null, () => (changes === 0 ? 'nothing to change' : dryRun ? `dry run: ${changes} change(s) planned, nothing was written` : `applied ${changes} change(s)`));
      };
    },
  },

  evaluate: {
    synopsis: 'evaluate --connection C (--response FILE [--at ISO] | --claims FILE.json)',
    summary: 'what a login would do: the user, attributes and roles it would produce and what it would change; writes nothing (exit 1 when it would be refused)',
    details: [
      '--response FILE      a SAMLResponse: base64, raw XML, or a form body SAMLResponse=...; verified in full',
      '--at ISO             the instant to verify it at (default: its IssueInstant, so an old capture still reads)',
      '--claims FILE.json   OIDC claims (an ID token\'s or userinfo\'s payload), with a "sub"',
    ],
    options: { connection: str, response: str, claims: str, at: str },
    async prepare(args) {
      const connectionId = args.required('connection');
      const response = args.string('response');
      const claims = args.string('claims');
      if ((response === undefined) === (claims === undefined)) throw new UsageError('give either --response FILE (SAML) or --claims FILE.json (OIDC)');
      let login: LoginInput;
      if (response !== undefined) {
        const text = await args.readFile('response');
        const at = args.string('at');
        const instant = at === undefined ? undefined : new Date(at);
        if (instant && Number.isNaN(instant.getTime())) throw new UsageError(`--at must be an ISO 8601 instant, got "${at}"`);
        login = { samlResponse: await input(`--response ${response}`, () => samlResponseFromText(text)), ...(instant ? { at: instant } : {}) };
      } else {
        if (args.string('at') !== undefined) throw new UsageError('--at is for SAML responses; claims are evaluated as they are');
        const json = await args.readJson('claims');
        login = { claims: await input(`--claims ${claims}`, () => parseClaims(json)) };
      }
      return async (context) => {
        const connection = await requireConnection(context.runtime.store, connectionId);
        const report = await input(response !== undefined ? `--response ${response}` : `--claims ${claims}`, () => evaluateLoginInput(context.runtime, connection, login));
        print(context, report, () => `${describeLoginReport(report)}\n(nothing was written)`);
        if (!connection.enabled) note(context, 'the connection is disabled: a real login would be refused (unknown_connection)');
        if (report.evaluation.refusal) {
          context.io.stderr.write(`refused: ${report.evaluation.refusal.code}${report.evaluation.refusal.detail ? `: ${report.evaluation.refusal.detail}` : ''}\n`);
          return 1;
        }
        return connection.enabled ? 0 : 1;
      };
    },
  },
  ...scimCommands({ print, inputError: (message) => new InputError(message) }),
};

/** A plan step for a person: its action, the members that change, and the domains claimed (+) and released (-). */
function describeStep(step: PlanStep): string {
  const domains = step.domains ? ` (${[...step.domains.claim.map((d) => `+${d}`), ...step.domains.release.map((d) => `-${d}`)].join(' ')})` : '';
  return `${step.fields ? `${step.action}: ${step.fields.join(', ')}` : step.action}${domains}`;
}

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

async function added(context: Context, connection: Connection): Promise<void> {
  await addConnection(context.runtime.store, connection);
  print(context, connection, () => describeConnection(connection, context.runtime.config.publicBaseUrl));
  for (const warning of policyWarnings(connection)) note(context, warning);
  if (connection.protocol === 'saml') {
    if (connection.idpWantsAuthnRequestsSigned && !connection.spKeys?.some((k) => k.use === 'signing')) {
      note(context, `the IdP's metadata wants signed AuthnRequests: generate a signing key before the first login (npm run admin -- connections sp-keys --id ${connection.id} --generate --use signing)`);
    }
    const now = context.runtime.clock();
    for (const { expiresAt } of expiringCertificates(connection, now)) {
      note(context, `an IdP certificate ${expiresAt < now ? 'expired' : 'expires'} on ${expiresAt.toISOString().slice(0, 10)}: ask the IdP admin for the next one`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Help

const GROUPS = ['tenants', 'connections', 'users', 'secrets', 'scim-tokens', 'audit'];
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
// Where the data is

interface Target {
  readonly env: Environment;
  close(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a running `npm start` recorded under .local/ (bin/local.ts writes it with its pid), while that process lives. */
async function runningLocal(name: string): Promise<Readonly<Record<string, unknown>> | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(new URL(name, LOCAL_DATA), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('pid' in parsed) || typeof parsed.pid !== 'number' || !alive(parsed.pid)) return undefined;
    return parsed as Readonly<Record<string, unknown>>;
  } catch {
    return undefined;
  }
}

/** The DynamoDB Local of a running `npm start`, if there is one. */
async function runningLocalEndpoint(): Promise<string | undefined> {
  const endpoint = (await runningLocal('dynamodb-endpoint.json'))?.endpoint;
  return typeof endpoint === 'string' ? endpoint : undefined;
}

/**
 * The local stack: the DynamoDB Local of `npm start` while it runs, else one started here on the
 * same data for the command's duration (two processes on one data directory deadlock on writes,
 * so the CLI never starts a second beside a running one).
 */
async function localTarget(env: Environment): Promise<Target> {
  // The URLs the CLI prints are those of the running server (its PORT), else of the one npm start would run.
  const recorded = (await runningLocal('server.json'))?.baseUrl;
  const baseUrl = typeof recorded === 'string' ? recorded : `http://localhost:${env.PORT ?? 3000}`;
  const secretsFile = new URL('secrets.json', LOCAL_DATA);
  const localEnv = (endpoint: string): Environment => ({
    TABLE_NAME: LOCAL_TABLE,
    DYNAMODB_ENDPOINT: endpoint,
    PUBLIC_BASE_URL: baseUrl,
    SESSION_AUDIENCE: baseUrl,
    LOCAL_SIGNING_KEY_FILE: fileURLToPath(new URL('signing-key.json', LOCAL_DATA)),
    LOCAL_SECRETS_FILE: fileURLToPath(secretsFile),
  });
  const prepared = async (endpoint: string) => {
    const client = createDocumentClient({ endpoint });
    try {
      await ensureTable(client, LOCAL_TABLE);
    } finally {
      client.destroy();
    }
  };
  const running = await runningLocalEndpoint();
  if (running) {
    try {
      await prepared(running);
      return { env: localEnv(running), close: async () => undefined };
    } catch {
      // npm start's DynamoDB Local is gone although its process is not: start one here.
    }
  }
  const path = fileURLToPath(new URL('dynamodb/', LOCAL_DATA));
  mkdirSync(path, { recursive: true });
  const dynamo = await startDynamoDbLocal({ path });
  try {
    await prepared(dynamo.endpoint);
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
  return { env: localEnv(dynamo.endpoint), close: () => dynamo.stop() };
}

async function openTarget(stack: string | undefined, io: AdminIo): Promise<Target> {
  if (stack !== undefined) return { env: await stackEnvironment(stack), close: async () => undefined };
  if (io.env.TABLE_NAME && io.env.DYNAMODB_ENDPOINT) {
    const baseUrl = io.env.PUBLIC_BASE_URL ?? `http://localhost:${io.env.PORT ?? 3000}`;
    return {
      env: { PUBLIC_BASE_URL: baseUrl, SESSION_AUDIENCE: baseUrl, LOCAL_SIGNING_KEY_FILE: fileURLToPath(new URL('signing-key.json', LOCAL_DATA)), ...io.env },
      close: async () => undefined,
    };
  }
  return localTarget(io.env);
}

// ---------------------------------------------------------------------------------------------
// Entry

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

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
