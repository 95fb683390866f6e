import { AppError } from '../errors';
import type { ScimReply } from './resource';
import { LIST_SCHEMA, resourceTypeDocuments, schemaDocuments, serviceProviderConfig } from './schema';

const list = (resources: Record<string, unknown>[]): ScimReply => ({
  status: 200,
  body: { schemas: [LIST_SCHEMA], totalResults: resources.length, startIndex: 1, itemsPerPage: resources.length, Resources: resources },
});

function one(resources: Record<string, unknown>[], id: string, what: string): ScimReply {
  const found = resources.find((r) => r.id === id);
  if (!found) throw new AppError('not_found', `there is no ${what} ${id}`);
  return { status: 200, body: found };
}

/** GET /ServiceProviderConfig, /Schemas[/{id}], /ResourceTypes[/{id}] (RFC 7644 §4): exactly what this server supports. @throws AppError `not_found`. */
export const scimDiscovery = {
  serviceProviderConfig: (baseUrl: string): ScimReply => ({ status: 200, body: serviceProviderConfig(baseUrl) }),
  schemas: (baseUrl: string, id?: string): ScimReply => (id === undefined ? list(schemaDocuments(baseUrl)) : one(schemaDocuments(baseUrl), id, 'schema')),
  resourceTypes: (baseUrl: string, id?: string): ScimReply => (id === undefined ? list(resourceTypeDocuments(baseUrl)) : one(resourceTypeDocuments(baseUrl), id, 'resource type')),
};
