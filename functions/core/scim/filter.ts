import { parse, type Filter } from 'scim2-parse-filter';
import { AppError } from '../errors';
import { resolvePath, type ResourceType } from './schema';

export type { Filter };

/**
 * Parses a SCIM filter (RFC 7644 §3.4.2.2) with `scim2-parse-filter`, and checks that every
 * attribute it names is one the resource type has, so a misspelt attribute is refused rather
 * than silently matching nothing.
 *
 * @throws AppError `invalid_filter`.
 */
export function parseFilter(type: ResourceType, text: string): Filter {
  let filter: Filter;
  try {
    filter = parse(bindValuePathComparisons(text));
  } catch (error) {
    throw new AppError('invalid_filter', `the filter is not valid: ${error instanceof Error ? error.message : String(error)}`);
  }
  checkAttributes(type, filter, undefined);
  return filter;
}

/** A comparison operator, and the literal after it, of the filter grammar (RFC 7644 §3.4.2.2). */
const SUB_ATTRIBUTE_COMPARISON = /^\.([A-Za-z][\w$-]*)\s+(?:(pr)\b|(eq|ne|co|sw|ew|gt|ge|lt|le)\s+("(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?))/i;

/**
 * `emails[type eq "work"].value eq "x"`, as Entra ID sends it, means one email that is both of
 * type work and of value x. scim2-parse-filter reads the trailing comparison as a condition of its
 * own (`emails[type eq "work"] and emails.value eq "x"`), which another email of the same user
 * could satisfy; so the comparison is moved inside the brackets first, where it binds to the
 * same element: `emails[type eq "work" and value eq "x"]`. Quoted strings are skipped whole.
 */
export function bindValuePathComparisons(text: string): string {
  let out = '';
  let depth = 0;
  let open = -1;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '"') {
      const end = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
      const quoted = end ? end[0] : text.slice(i);
      out += quoted;
      i += quoted.length - 1;
      continue;
    }
    if (char === '[') {
      if (depth === 0) open = out.length;
      depth++;
    }
    if (char === ']' && depth > 0 && --depth === 0) {
      const comparison = SUB_ATTRIBUTE_COMPARISON.exec(text.slice(i + 1));
      if (comparison && open >= 0) {
        const [whole, attribute, pr, op, value] = comparison;
        out += ` and ${attribute} ${pr ?? `${op} ${value}`}]`;
        i += whole.length;
        continue;
      }
    }
    out += char;
  }
  return out;
}

function checkAttributes(type: ResourceType, filter: Filter, parent: string | undefined): void {
  switch (filter.op) {
    case 'and':
    case 'or':
      for (const inner of filter.filters) checkAttributes(type, inner, parent);
      return;
    case 'not':
      return checkAttributes(type, filter.filter, parent);
    case '[]':
      requireAttribute(type, filter.attrPath, parent);
      return checkAttributes(type, filter.valFilter, filter.attrPath);
    default:
      requireAttribute(type, filter.attrPath, parent);
      if (filter.op !== 'pr' && filter.op !== 'eq' && filter.op !== 'ne' && typeof filter.compValue === 'boolean') {
        throw new AppError('invalid_filter', `"${filter.op}" does not compare booleans`);
      }
  }
}

function requireAttribute(type: ResourceType, path: string, parent: string | undefined): void {
  if (!resolvePath(type, parent ? `${parent}.${path}` : path)) throw new AppError('invalid_filter', `the filter names "${path}", which ${type}s do not have`);
}

/** A filter that one key item answers: `userName`, `externalId`, `id` or an email, compared with `eq`. */
export type KeyLookup = { readonly by: 'userName' | 'externalId' | 'id' | 'email'; readonly value: string };

/** The key lookup a filter amounts to, if any: then no page of the tenant's resources is read. */
export function keyLookup(type: ResourceType, filter: Filter): KeyLookup | undefined {
  let path: string | undefined;
  let value: unknown;
  if (filter.op === 'eq') {
    path = resolvePath(type, filter.attrPath)?.canonical;
    value = filter.compValue;
  } else if (filter.op === '[]' && filter.valFilter.op === 'eq' && filter.valFilter.attrPath.toLowerCase() === 'value') {
    path = `${resolvePath(type, filter.attrPath)?.canonical}.value`;
    value = filter.valFilter.compValue;
  }
  if (typeof value !== 'string') return undefined;
  if (path === 'userName' && type === 'User') return { by: 'userName', value };
  if (path === 'externalId' && type === 'User') return { by: 'externalId', value };
  if (path === 'id') return { by: 'id', value };
  if ((path === 'emails' || path === 'emails.value') && type === 'User') return { by: 'email', value };
  return undefined;
}

type Json = unknown;

/** The values at one attribute name of a JSON resource, matched without regard to case; arrays are flattened. */
function valuesAt(resource: Json, names: readonly string[]): Json[] {
  if (names.length === 0) return Array.isArray(resource) ? resource : [resource];
  if (Array.isArray(resource)) return resource.flatMap((item) => valuesAt(item, names));
  if (typeof resource !== 'object' || resource === null) return [];
  const [first, ...rest] = names;
  const found = Object.keys(resource).find((k) => k.toLowerCase() === first!.toLowerCase());
  return found === undefined ? [] : valuesAt((resource as Record<string, Json>)[found], rest);
}

/** `urn:…:User:department` → [urn, department]; `name.givenName` → [name, givenName]. */
function pathNames(path: string): string[] {
  const colon = path.lastIndexOf(':');
  return colon < 0 ? path.split('.') : [path.slice(0, colon), ...path.slice(colon + 1).split('.')];
}

function compare(op: string, actual: Json, expected: Json, caseExact: boolean): boolean {
  // A multi-valued complex attribute compared as a whole compares its `value` (RFC 7644 §3.4.2.2).
  const a = typeof actual === 'object' && actual !== null && 'value' in actual ? (actual as { value: Json }).value : actual;
  if (op === 'pr') return a !== undefined && a !== null && a !== '';
  const fold = (v: Json) => (typeof v === 'string' && !caseExact ? v.toLowerCase() : v);
  const x = fold(a);
  const y = fold(expected);
  switch (op) {
    case 'eq':
      return x === y;
    case 'ne':
      return x !== y;
    case 'co':
      return typeof x === 'string' && typeof y === 'string' && x.includes(y);
    case 'sw':
      return typeof x === 'string' && typeof y === 'string' && x.startsWith(y);
    case 'ew':
      return typeof x === 'string' && typeof y === 'string' && x.endsWith(y);
    case 'gt':
      return typeof x === typeof y && y !== null && (x as string) > (y as string);
    case 'ge':
      return typeof x === typeof y && y !== null && (x as string) >= (y as string);
    case 'lt':
      return typeof x === typeof y && y !== null && (x as string) < (y as string);
    case 'le':
      return typeof x === typeof y && y !== null && (x as string) <= (y as string);
    default:
      return false;
  }
}

/**
 * Whether a SCIM resource (its JSON representation) matches a parsed filter. Attribute names are
 * case-insensitive; strings compare per the attribute's `caseExact` (so `userName eq "ALICE"`
 * finds alice, `externalId` does not fold case); a multi-valued attribute matches when any of
 * its values does; `ne` matches an absent attribute.
 */
export function matchesFilter(type: ResourceType, resource: Json, filter: Filter, parent?: string): boolean {
  switch (filter.op) {
    case 'and':
      return filter.filters.every((inner) => matchesFilter(type, resource, inner, parent));
    case 'or':
      return filter.filters.some((inner) => matchesFilter(type, resource, inner, parent));
    case 'not':
      return !matchesFilter(type, resource, filter.filter, parent);
    case '[]': {
      const full = parent ? `${parent}.${filter.attrPath}` : filter.attrPath;
      return valuesAt(resource, pathNames(filter.attrPath)).some((element) => matchesFilter(type, element, filter.valFilter, full));
    }
    default: {
      const full = parent ? `${parent}.${filter.attrPath}` : filter.attrPath;
      const definition = resolvePath(type, full)?.definitions.at(-1);
      const caseExact = definition?.caseExact ?? false;
      const values = valuesAt(resource, pathNames(filter.attrPath));
      if (filter.op === 'ne') return values.every((value) => compare('ne', value, filter.compValue, caseExact));
      const compValue = filter.op === 'pr' ? undefined : filter.compValue;
      return values.some((value) => compare(filter.op, value, compValue, caseExact));
    }
  }
}
