import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Connection, SamlConnection } from '../../functions/core/model';
import { resetOidcCaches } from '../../functions/core/oidc/relying-party';
import { createOidcHandler } from '../../functions/oidc';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { startTestProvider, type TestProvider } from './oidc-provider';
import { createSamlConnection, invoke, oidcConnection, postAcs, responseFor, testRuntime } from './harness';

/** Who logs in: the IdP's subject and what it says about them, in the names both IdPs use. */
export interface Person {
  readonly subject: string;
  readonly email: string;
  readonly given_name?: string;
  readonly family_name?: string;
  readonly groups?: readonly string[];
  readonly department?: string;
}

export type TestRuntime = Awaited<ReturnType<typeof testRuntime>>;
export type PolicyOverrides = Partial<Pick<Connection, 'jit' | 'attributeMapping' | 'roles' | 'allowedEmailDomains' | 'linkByEmail' | 'scimSubject'>>;

/** Logs people in through one protocol, through the real handlers, against real IdP software. */
export interface LoginDriver {
  setUp(overrides?: PolicyOverrides, options?: { tenantId?: string; seatLimit?: number }): Promise<{ runtime: TestRuntime; connection: Connection }>;
  logIn(runtime: TestRuntime, connection: Connection, person: Person): Promise<APIGatewayProxyStructuredResultV2>;
}

async function tenantFor(runtime: TestRuntime, options: { tenantId?: string; seatLimit?: number }): Promise<string> {
  const tenantId = options.tenantId ?? `tenant-${randomUUID()}`;
  if (!options.tenantId) await runtime.store.putTenant({ id: tenantId, name: 'Policy tenant', ...(options.seatLimit === undefined ? {} : { seatLimit: options.seatLimit }) });
  return tenantId;
}

/** SAML logins: the person's attributes in a response signed by the test IdP, posted to the ACS (IdP-initiated). */
export const samlDriver: LoginDriver = {
  async setUp(overrides = {}, options = {}) {
    const runtime = await testRuntime();
    const tenantId = await tenantFor(runtime, options);
    const connection = await createSamlConnection(runtime, { tenantId, allowIdpInitiated: true, ...overrides } as Partial<SamlConnection>, { ...(options.seatLimit === undefined ? {} : { seatLimit: options.seatLimit }) });
    return { runtime, connection };
  },
  async logIn(runtime, connection, person) {
    const { subject, email, groups, ...rest } = person;
    const attributes: Record<string, string[]> = { email: [email], ...(groups ? { groups: [...groups] } : {}) };
    for (const [name, value] of Object.entries(rest)) if (typeof value === 'string') attributes[name] = [value];
    const response = await issueSamlResponse(responseFor(connection as SamlConnection, runtime, { nameId: subject, nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes }));
    return postAcs(createSamlHandler(runtime), connection.id, response);
  },
};

/**
 * OIDC logins through the npm oidc-provider on loopback: start it in `beforeAll` with `start()`
 * and stop it in `afterAll`. Its client is registered for `capacity` connections made by `setUp`.
 */
export function oidcDriver(options: { clientId: string; capacity?: number }): LoginDriver & { start(): Promise<void>; stop(): Promise<void>; provider(): TestProvider } {
  const connectionIds = Array.from({ length: options.capacity ?? 60 }, (_, i) => `${options.clientId}-${i}-${randomUUID().slice(0, 8)}`);
  const secret = `${options.clientId}-secret`;
  let next = 0;
  let op: TestProvider | undefined;
  const provider = () => {
    if (!op) throw new Error('start the OIDC driver in beforeAll');
    return op;
  };
  return {
    async start() {
      resetOidcCaches();
      op = await startTestProvider({
        clients: [{ client_id: options.clientId, client_secret: secret, redirect_uris: connectionIds.map((id) => `https://sso.test/oidc/${id}/callback`) }],
      });
    },
    stop: () => provider().stop(),
    provider,
    async setUp(overrides = {}, setUpOptions = {}) {
      const runtime = await testRuntime({ secrets: { [secret]: secret } });
      const tenantId = await tenantFor(runtime, setUpOptions);
      const id = connectionIds[next++];
      if (!id) throw new Error('the OIDC driver has no registered connection id left: raise its capacity');
      const connection = oidcConnection({ id, tenantId, issuer: provider().issuer, clientId: options.clientId, clientSecretName: secret }, overrides);
      await runtime.store.putConnection(connection);
      return { runtime, connection };
    },
    async logIn(runtime, connection, person) {
      const { subject, department, groups, ...claims } = person;
      provider().signInAs({ sub: subject, email_verified: true, ...claims, ...(groups ? { groups: [...groups] } : {}) });
      if (department) provider().setExtraClaims({ department });
      const handler = createOidcHandler(runtime);
      const start = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/login` });
      const callback = await provider().authorize(String(start.headers?.location));
      return invoke(handler, { method: 'GET', url: callback.pathname + callback.search, headers: { cookie: String(start.cookies?.[0]).split(';')[0] } });
    },
  };
}

/** A person with a fresh subject and an email at example.test. */
export const person = (overrides: Partial<Person> = {}): Person => {
  const subject = `p-${randomUUID()}`;
  return { subject, email: `${subject}@example.test`, given_name: 'Ada', family_name: 'Lovelace', ...overrides };
};
