import { AppError } from '../errors';
import type { Runtime } from '../runtime';
import { DEFAULT_PAGE_SIZE, LIST_SCHEMA, MAX_PAGE_SIZE, resolvePath, type ResourceType } from './schema';

/** What a SCIM operation needs: the store and audit trail, the clock, the caller's tenant and the SCIM base URL. */
export interface ScimContext {
  readonly runtime: Pick<Runtime, 'store' | 'log' | 'events' | 'clock'>;
  /** The tenant of the bearer token: every read and write is confined to it. */
  readonly tenantId: string;
  /** `<PUBLIC_BASE_URL>/scim/v2`. */
  readonly baseUrl: string;
  /** The most resources a filter that is no key lookup may examine. @default MAX_EXAMINED */
  readonly maxExamined?: number;
}

/** What a SCIM operation answers, for the handler to send as `application/scim+json`. */
export interface ScimReply {
  readonly status: number;
  readonly body?: unknown;
  readonly location?: string;
  readonly etag?: string;
}

/** The query parameters of a GET (RFC 7644 §3.4.2, §3.9). */
export interface ScimQuery {
  readonly filter?: string;
  readonly startIndex?: string;
  readonly count?: string;
  readonly attributes?: string;
  readonly excludedAttributes?: string;
}

export type Json = unknown;
export type JsonObject = Record<string, Json>;
/** A JSON object (not an array, not null). */
export const isObject = (value: Json): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A weak ETag of a resource version (RFC 7644 §3.14). */
export const etagOf = (version: number | undefined) => `W/"${version ?? 0}"`;

/**
 * Refuses a write whose `If-Match` names another version than the stored one.
 * @throws AppError `precondition_failed`.
 */
export function checkIfMatch(ifMatch: string | undefined, version: number | undefined): void {
  if (ifMatch === undefined || ifMatch.trim() === '*') return;
  const current = etagOf(version);
  const named = ifMatch.split(',').map((tag) => tag.trim());
  // Weak comparison (RFC 9110 §8.8.3.2): W/"3" and "3" name the same version.
  if (!named.some((tag) => tag.replace(/^W\//, '') === current.replace(/^W\//, ''))) {
    throw new AppError('precondition_failed', `the resource is at version ${current}, not ${ifMatch}`);
  }
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw new AppError('invalid_value', `${name} must be an integer`);
  return Number(value);
}

/** `startIndex` (1-based; under 1 is 1) and `count` (0 to MAX_PAGE_SIZE) of a list request (RFC 7644 §3.4.2.4). */
export function pageOf(query: ScimQuery): { startIndex: number; count: number } {
  const startIndex = Math.max(1, integer(query.startIndex, 'startIndex') ?? 1);
  const count = Math.min(MAX_PAGE_SIZE, Math.max(0, integer(query.count, 'count') ?? DEFAULT_PAGE_SIZE));
  return { startIndex, count };
}

/** A ListResponse of one page of matching resources, each projected as the query asks. */
export function listResponse(type: ResourceType, resources: readonly JsonObject[], query: ScimQuery): ScimReply {
  const { startIndex, count } = pageOf(query);
  const page = resources.slice(startIndex - 1, startIndex - 1 + count);
  return {
    status: 200,
    body: { schemas: [LIST_SCHEMA], totalResults: resources.length, startIndex, itemsPerPage: page.length, Resources: page.map((r) => project(type, r, query)) },
  };
}

const names = (list: string | undefined) => (list ?? '').split(',').map((n) => n.trim()).filter(Boolean);

/**
 * The resource with only the `attributes` asked for (plus `id` and `schemas`, always returned),
 * or without the `excludedAttributes` (RFC 7644 §3.4.2.5). Names are case-insensitive and may
 * be sub-attributes (`name.givenName`) or URN-qualified.
 *
 * @throws AppError `invalid_value` for an attribute the resource type does not have.
 */
export function project(type: ResourceType, resource: JsonObject, query: Pick<ScimQuery, 'attributes' | 'excludedAttributes'>): JsonObject {
  const resolve = (name: string) => {
    const resolved = resolvePath(type, name);
    if (!resolved) throw new AppError('invalid_value', `${type}s have no attribute "${name}"`);
    const [top, sub] = resolved.definitions.map((d) => d.name);
    return { container: resolved.extension, top, sub };
  };
  const wanted = names(query.attributes).map(resolve);
  const excluded = names(query.excludedAttributes).map(resolve);
  if (wanted.length === 0 && excluded.length === 0) return resource;
  const scope = (object: JsonObject, container: string | undefined): JsonObject | undefined => (container === undefined ? object : isObject(object[container]) ? (object[container] as JsonObject) : undefined);
  if (wanted.length) {
    const out: JsonObject = { schemas: resource.schemas, id: resource.id };
    for (const { container, top, sub } of wanted) {
      const from = scope(resource, container);
      if (!from || top === undefined) {
        if (container && from) out[container] = from;
        continue;
      }
      const into = container === undefined ? out : ((out[container] ??= {}) as JsonObject);
      const value = from[top];
      if (value === undefined) continue;
      if (sub === undefined) into[top] = value;
      else if (Array.isArray(value)) into[top] = value.map((v) => (isObject(v) ? { [sub]: v[sub] } : v));
      else if (isObject(value)) into[top] = { ...(isObject(into[top]) ? (into[top] as JsonObject) : {}), [sub]: value[sub] };
    }
    return out;
  }
  const out: JsonObject = structuredClone(resource);
  for (const { container, top, sub } of excluded) {
    if (top === 'id' && container === undefined) continue;
    const from = scope(out, container);
    if (!from) continue;
    if (top === undefined) delete out[container!];
    else if (sub === undefined) delete from[top];
    else if (Array.isArray(from[top])) {
      for (const v of from[top] as Json[]) if (isObject(v)) delete v[sub];
    } else if (isObject(from[top])) delete (from[top] as JsonObject)[sub];
  }
  return out;
}
