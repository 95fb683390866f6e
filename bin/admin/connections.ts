/**
 * The admin CLI's connection commands: `connections add-saml|add-oidc|list|show|update|remove|
 * metadata|sp-keys`.
 */
import { addConnection, changedConnection, requireSigningKey, checkId, discoverIssuer, newOidcConnection, newSamlConnection, parseCertificates, requireConnection, resolveIdp, type ConnectionChange, type IdpSource, type OidcSettings, type SamlSettings } from '../../functions/core/admin/connections';
import { describeConnection, table } from '../../functions/core/admin/describe';
import { parseConnectionPolicy, parseReturnTarget, policyWarnings, type ConnectionPolicy } from '../../functions/core/admin/policy';
import { checkSecretName, requireSecret } from '../../functions/core/admin/secrets';
import { addExistingSpKey, addGeneratedSpKey, describeSpKeys, retireSpKey, type SpKeyInfo } from '../../functions/core/admin/sp-keys';
import { requireTenant } from '../../functions/core/admin/tenants';
import { AppError } from '../../functions/core/errors';
import type { Connection, OidcConnection, SpKey } from '../../functions/core/model';
import { spEndpoints, spMetadata } from '../../functions/core/saml/service-provider';
import { expiringCertificates, type IdpMetadata } from '../../functions/core/saml/idp-metadata';
import { bool, input, InputError, note, print, str, strs, UsageError, type Args, type Commands, type Context } from './cli';

const AUTH_METHODS: readonly OidcConnection['tokenEndpointAuthMethod'][] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

const POLICY_HELP = '--policy FILE.json   provisioning policy: jit, attributeMapping, roles, returnToAllowlist, linkByEmail, allowedEmailDomains (members given replace the connection\'s)';
const RETURN_TO_HELP = '--return-to URL      a URL prefix return_to/RelayState may point into (repeatable)';

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

/** The connection commands, keyed as bin/admin.ts's command table keys them. */
export const connectionCommands: Commands = {
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
        const metadata = await spMetadata(connection, endpoints);
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
};

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
