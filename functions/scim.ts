import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { AppError } from './core/errors';
import { scimDiscovery } from './core/scim/discovery';
import { createScimGroup, deleteScimGroup, getScimGroup, listScimGroups, patchScimGroup, replaceScimGroup } from './core/scim/groups';
import type { ScimContext, ScimQuery, ScimReply } from './core/scim/resource';
import { MAX_SCIM_BODY_BYTES } from './core/scim/schema';
import { authenticateScimToken } from './core/scim/tokens';
import { createScimUser, deleteScimUser, getScimUser, listScimUsers, patchScimUser, replaceScimUser } from './core/scim/users';
import { httpHandler, jsonBody, SCIM_MEDIA_TYPE, type HttpEvent, type HttpResult } from './http';

type Operation = (context: ScimContext, event: HttpEvent, id: string) => Promise<ScimReply>;

const body = (event: HttpEvent) => jsonBody(event, MAX_SCIM_BODY_BYTES);
const query = (event: HttpEvent): ScimQuery => event.queryStringParameters ?? {};
const ifMatch = (event: HttpEvent) => event.headers?.['if-match'];

function respond(reply: ScimReply): HttpResult {
  return {
    statusCode: reply.status,
    headers: {
      'cache-control': 'no-store',
      ...(reply.body === undefined ? {} : { 'content-type': SCIM_MEDIA_TYPE }),
      ...(reply.location ? { location: reply.location } : {}),
      ...(reply.etag ? { etag: reply.etag } : {}),
    },
    body: reply.body === undefined ? '' : JSON.stringify(reply.body),
  };
}

/**
 * The SCIM 2.0 routes: every request is authenticated by its tenant's bearer token, and confined
 * to that tenant. `maxExamined` bounds what a filter that is no key lookup may read (tests lower it).
 */
export function createScimHandler(runtime: Runtime, options: { readonly maxExamined?: number } = {}) {
  const baseUrl = `${runtime.config.publicBaseUrl}/scim/v2`;
  const scim = (operation: Operation) => async (event: HttpEvent) => {
    const tenantId = await authenticateScimToken(runtime.store, event.headers?.authorization);
    return respond(await operation({ runtime, tenantId, baseUrl, ...options }, event, event.pathParameters?.id ?? ''));
  };
  const path = (operation: Operation): Operation => (context, event, id) => {
    if (!id) throw new AppError('not_found', 'the path names no resource');
    return operation(context, event, id);
  };
  return httpHandler(
    {
      'GET /scim/v2/Users': scim((c, e) => listScimUsers(c, query(e))),
      'POST /scim/v2/Users': scim((c, e) => createScimUser(c, body(e))),
      'GET /scim/v2/Users/{id}': scim(path((c, e, id) => getScimUser(c, id, query(e)))),
      'PUT /scim/v2/Users/{id}': scim(path((c, e, id) => replaceScimUser(c, id, body(e), ifMatch(e)))),
      'PATCH /scim/v2/Users/{id}': scim(path((c, e, id) => patchScimUser(c, id, body(e), ifMatch(e)))),
      'DELETE /scim/v2/Users/{id}': scim(path((c, e, id) => deleteScimUser(c, id, ifMatch(e)))),
      'GET /scim/v2/Groups': scim((c, e) => listScimGroups(c, query(e))),
      'POST /scim/v2/Groups': scim((c, e) => createScimGroup(c, body(e))),
      'GET /scim/v2/Groups/{id}': scim(path((c, e, id) => getScimGroup(c, id, query(e)))),
      'PUT /scim/v2/Groups/{id}': scim(path((c, e, id) => replaceScimGroup(c, id, body(e), ifMatch(e)))),
      'PATCH /scim/v2/Groups/{id}': scim(path((c, e, id) => patchScimGroup(c, id, body(e), ifMatch(e)))),
      'DELETE /scim/v2/Groups/{id}': scim(path((c, e, id) => deleteScimGroup(c, id, ifMatch(e)))),
      'GET /scim/v2/ServiceProviderConfig': scim(async () => scimDiscovery.serviceProviderConfig(baseUrl)),
      'GET /scim/v2/Schemas': scim(async () => scimDiscovery.schemas(baseUrl)),
      'GET /scim/v2/Schemas/{id}': scim(async (_c, _e, id) => scimDiscovery.schemas(baseUrl, id)),
      'GET /scim/v2/ResourceTypes': scim(async () => scimDiscovery.resourceTypes(baseUrl)),
      'GET /scim/v2/ResourceTypes/{id}': scim(async (_c, _e, id) => scimDiscovery.resourceTypes(baseUrl, id)),
    },
    { errors: 'scim' },
  );
}

export const handler = createScimHandler(await runtimeFromEnvironment(process.env));
