import { NoTarget, ScimError, scimPatch, type ScimPatchOperation, type ScimResource } from 'scim-patch';
import { AppError } from '../errors';
import { PATCH_SCHEMA, resolvePath, schemaOf, type AttributeDefinition, type ResourceType } from './schema';

type Json = unknown;
type JsonObject = Record<string, Json>;

const isObject = (value: Json): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A value as the schema types it: Entra ID's `"True"`/`"False"` become booleans where the
 * attribute is boolean, a bare id given for a complex attribute with a `value` (the manager)
 * becomes `{value}`, and object keys take the schema's spelling (names are case-insensitive).
 */
export function coerceValue(definition: AttributeDefinition | undefined, value: Json, asElement = false): Json {
  if (!definition) return value;
  if (definition.multiValued && !asElement) return Array.isArray(value) ? value.map((v) => coerceValue(definition, v, true)) : coerceValue(definition, value, true);
  if (definition.type === 'boolean' && typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  if (definition.type === 'complex' && isObject(value)) return coerceObject(definition.subAttributes ?? [], value);
  // Entra sends the enterprise `manager` as the manager's id alone.
  if (definition.type === 'complex' && !definition.multiValued && typeof value === 'string' && definition.subAttributes?.some((a) => a.name === 'value')) return { value };
  return value;
}

/** An object's keys in the schema's spelling and its values coerced; keys the schema does not know are kept as sent. */
export function coerceObject(attributes: readonly AttributeDefinition[], value: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [name, inner] of Object.entries(value)) {
    const definition = attributes.find((a) => a.name.toLowerCase() === name.toLowerCase());
    out[definition?.name ?? name] = coerceValue(definition, inner);
  }
  return out;
}

const ATTRIBUTE_PATH = /^([^[\]]+?)(\[(.+)\])?(?:\.([A-Za-z$][\w$-]*))?$/s;

/**
 * A PATCH path in the schema's spelling, with the definition its value is typed by.
 * @throws AppError `invalid_value` for an attribute the resource type does not have, `mutability` for a read-only one.
 */
function canonicalPath(type: ResourceType, path: string): { path: string; definition: AttributeDefinition | undefined; element: boolean } {
  const match = ATTRIBUTE_PATH.exec(path.trim());
  if (!match) throw new AppError('invalid_value', `"${path}" is not an attribute path`);
  const [, head, , valueFilter, sub] = match;
  const resolved = resolvePath(type, head!);
  if (!resolved) throw new AppError('invalid_value', `${type}s have no attribute "${head}"`);
  let definition = resolved.definitions.at(-1);
  if (sub !== undefined) {
    const subDefinition = definition?.subAttributes?.find((a) => a.name.toLowerCase() === sub.toLowerCase());
    if (!subDefinition) throw new AppError('invalid_value', `"${head}" has no sub-attribute "${sub}"`);
    definition = subDefinition;
  }
  const chain = [...resolved.definitions, ...(sub !== undefined && definition ? [definition] : [])];
  if (chain.some((d) => d.mutability === 'readOnly') || resolved.canonical === 'id') throw new AppError('mutability', `"${path}" is read-only`);
  const canonical = `${resolved.canonical}${valueFilter === undefined ? '' : `[${valueFilter}]`}${sub === undefined ? '' : `.${definition!.name}`}`;
  // A filtered path's value is one element (or its sub-attribute), not the whole multi-valued attribute.
  return { path: canonical, definition, element: valueFilter !== undefined && sub === undefined };
}

/**
 * The operations of a PATCH request (RFC 7644 §3.5.2) in the form `scim-patch` applies, adding
 * what real IdPs send to what the RFC says: op names in any case (Entra ID's `Replace`), boolean
 * values as strings, a path-less `add`/`replace` whose value object has dotted (`name.givenName`)
 * or URN-qualified keys (split into one operation per key), and a `null` value meaning removal.
 *
 * @throws AppError `invalid_request` for a body that is no PatchOp, `invalid_value`, `mutability`.
 */
export function patchOperations(type: ResourceType, body: Json): ScimPatchOperation[] {
  if (!isObject(body)) throw new AppError('invalid_request', 'a PATCH body is a JSON object');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_SCHEMA)) throw new AppError('invalid_request', `a PATCH body names the schema ${PATCH_SCHEMA}`);
  const operations = Object.entries(body).find(([k]) => k.toLowerCase() === 'operations')?.[1];
  if (!Array.isArray(operations) || operations.length === 0) throw new AppError('invalid_request', 'a PATCH body has a non-empty "Operations" array');
  return operations.flatMap((operation, index) => normalize(type, operation, index));
}

function normalize(type: ResourceType, operation: Json, index: number): ScimPatchOperation[] {
  if (!isObject(operation)) throw new AppError('invalid_request', `Operations[${index}] is not an object`);
  const op = typeof operation.op === 'string' ? operation.op.toLowerCase() : undefined;
  if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new AppError('invalid_request', `Operations[${index}].op must be add, replace or remove`);
  const path = operation.path;
  if (path !== undefined && typeof path !== 'string') throw new AppError('invalid_request', `Operations[${index}].path must be a string`);
  if (op === 'remove') {
    if (!path) throw new AppError('no_target', `Operations[${index}] removes without a path`);
    const target = canonicalPath(type, path);
    return [{ op: 'remove', path: target.path, ...(operation.value === undefined ? {} : { value: byValue(target.definition, coerceValue(target.definition, operation.value, target.element)) }) }];
  }
  if (!('value' in operation)) throw new AppError('invalid_value', `Operations[${index}] has no value`);
  if (path) {
    const target = canonicalPath(type, path);
    if (operation.value === null) return [{ op: 'remove', path: target.path }];
    return [{ op, path: target.path, value: coerceValue(target.definition, operation.value, target.element) }];
  }
  if (!isObject(operation.value)) throw new AppError('invalid_value', `Operations[${index}] has no path, so its value must be an object`);
  return Object.entries(operation.value).flatMap(([name, value]) => {
    // Read-only members of a path-less value (Okta renames a group with its `id` beside the new
    // displayName) are ignored, as a PUT ignores them; a path naming one is `mutability`.
    if (['schemas', 'id', 'meta'].includes(name.toLowerCase())) return [];
    const extension = Object.keys(schemaOf(type).extensions).find((urn) => urn.toLowerCase() === name.toLowerCase());
    // The extension's URN as one key: its members are the attributes to set.
    if (extension && isObject(value)) return normalize(type, { op, value: Object.fromEntries(Object.entries(value).map(([k, v]) => [`${extension}:${k}`, v])) }, index);
    return normalize(type, { op, path: name, value }, index);
  });
}

/**
 * Elements of a multi-valued attribute with a `value` sub-attribute (Group `members`) are removed
 * by their `value` alone: Entra sends `{"value": id, "$ref": null}`, and `scim-patch` removes
 * only elements deeply equal to the one given. `patchView` reduces the stored elements alike.
 */
function byValue(definition: AttributeDefinition | undefined, value: Json): Json {
  if (!definition?.multiValued || !definition.subAttributes?.some((a) => a.name === 'value')) return value;
  const reduce = (element: Json) => (isObject(element) && 'value' in element ? { value: element.value } : element);
  return Array.isArray(value) ? value.map(reduce) : reduce(value);
}

/**
 * Applies normalized operations to a resource's JSON with `scim-patch` (add, replace, remove,
 * value filters such as `emails[type eq "work"].value` and `members[value eq "…"]`), on a copy.
 *
 * @throws AppError `no_target` when a filtered path matches nothing, `invalid_value`.
 */
export function applyPatch<T extends JsonObject>(resource: T, operations: readonly ScimPatchOperation[]): T {
  try {
    return scimPatch(resource as unknown as ScimResource, [...operations], { mutateDocument: false, treatMissingAsAdd: true }) as unknown as T;
  } catch (error) {
    if (error instanceof NoTarget) throw new AppError('no_target', error.message);
    if (error instanceof ScimError) throw new AppError('invalid_value', error.message);
    throw error;
  }
}
