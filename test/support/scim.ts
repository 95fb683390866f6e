import { randomUUID } from 'node:crypto';
import { issueScimToken } from '../../functions/core/scim/tokens';
import { createScimHandler } from '../../functions/scim';
import { invoke, testRuntime } from './harness';

export type TestRuntime = Awaited<ReturnType<typeof testRuntime>>;

export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCIM_ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export interface ScimAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

/** A SCIM client of one tenant, through the real SCIM handler, as an IdP would call it. */
export interface ScimClient {
  readonly tenantId: string;
  readonly token: string;
  request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers?: Record<string, string>): Promise<ScimAnswer>;
}

/** A new tenant (with an optional seat limit) and a SCIM token for it. */
export async function scimTenant(runtime: TestRuntime, options: { seatLimit?: number; tenantId?: string } = {}): Promise<ScimClient> {
  const tenantId = options.tenantId ?? `tenant-${randomUUID()}`;
  if (!options.tenantId) await runtime.store.putTenant({ id: tenantId, name: 'SCIM tenant', ...(options.seatLimit === undefined ? {} : { seatLimit: options.seatLimit }) });
  const { token } = await issueScimToken(runtime.store, tenantId, new Date());
  return { tenantId, token, request: scimRequester(runtime, token) };
}

/** Sends SCIM requests with a given bearer token (or none). */
export function scimRequester(runtime: TestRuntime, token: string | undefined, options: { maxExamined?: number } = {}) {
  const handler = createScimHandler(runtime, options);
  return async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<ScimAnswer> => {
    const result = await invoke(handler, {
      method,
      url,
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), 'content-type': 'application/scim+json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = String(result.body ?? '');
    return { status: result.statusCode ?? 200, headers: (result.headers ?? {}) as Record<string, string>, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/** An Okta-style user body. */
export function oktaUser(userName: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemas: [SCIM_USER],
    userName,
    name: { givenName: 'Test', familyName: 'User' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Test User',
    locale: 'en-US',
    externalId: `00u${randomUUID().replace(/-/g, '').slice(0, 17)}`,
    groups: [],
    password: '1mz050nq',
    active: true,
    ...overrides,
  };
}

export const uniqueEmail = (label = 'user') => `${label}-${randomUUID().slice(0, 8)}@example.test`;
