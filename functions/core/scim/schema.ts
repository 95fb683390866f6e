/**
 * What this SCIM server supports, said once: the attributes of Users and Groups (RFC 7643 §4,
 * the enterprise extension of §4.3), from which the `/Schemas` documents, the canonical spelling
 * of attribute names (they are case-insensitive, §2.1), `caseExact` for filters and the boolean
 * attributes that Entra ID sends as strings all derive.
 */

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** The largest request body read, in bytes; a larger one is refused before parsing. */
export const MAX_SCIM_BODY_BYTES = 1024 * 1024;
/** Resources per page when the request names no `count`, and the most it may ask for. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 200;
/** The most resources of a tenant a filter that is not a key lookup may examine; past it, `tooMany`. */
export const MAX_EXAMINED = 2000;

/** An attribute as RFC 7643 §7 describes it. */
export interface AttributeDefinition {
  readonly name: string;
  readonly type: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime' | 'integer';
  readonly multiValued: boolean;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  readonly returned: 'always' | 'default' | 'never' | 'request';
  readonly uniqueness: 'none' | 'server' | 'global';
  readonly subAttributes?: readonly AttributeDefinition[];
  readonly referenceTypes?: readonly string[];
}

type Options = Partial<Omit<AttributeDefinition, 'name' | 'type'>>;

function attribute(name: string, type: AttributeDefinition['type'], options: Options = {}): AttributeDefinition {
  return { name, type, multiValued: false, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none', ...options };
}

const text = (name: string, options?: Options) => attribute(name, 'string', options);
const multiComplex = (name: string, subAttributes: AttributeDefinition[]) => attribute(name, 'complex', { multiValued: true, subAttributes });
const typedValues = (extra: AttributeDefinition[] = []) => [text('value'), text('display'), text('type'), attribute('primary', 'boolean'), ...extra];

const COMMON: readonly AttributeDefinition[] = [
  text('id', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  text('externalId', { caseExact: true }),
];

/** The core User attributes (RFC 7643 §4.1) this server stores, beside `id`, `externalId` and `meta`. */
export const USER_ATTRIBUTES: readonly AttributeDefinition[] = [
  text('userName', { required: true, uniqueness: 'server' }),
  attribute('name', 'complex', {
    subAttributes: ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'].map((name) => text(name)),
  }),
  ...['displayName', 'nickName', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone'].map((name) => text(name)),
  attribute('profileUrl', 'reference', { referenceTypes: ['external'] }),
  attribute('active', 'boolean'),
  text('password', { mutability: 'writeOnly', returned: 'never' }),
  multiComplex('emails', typedValues()),
  multiComplex('phoneNumbers', typedValues()),
  multiComplex('addresses', [
    ...['formatted', 'streetAddress', 'locality', 'region', 'postalCode', 'country', 'type'].map((name) => text(name)),
    attribute('primary', 'boolean'),
  ]),
  multiComplex('ims', typedValues()),
  multiComplex('photos', typedValues()),
  multiComplex('entitlements', typedValues()),
  multiComplex('roles', typedValues()),
  multiComplex('x509Certificates', typedValues()),
  attribute('groups', 'complex', {
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [text('value', { mutability: 'readOnly' }), attribute('$ref', 'reference', { mutability: 'readOnly', referenceTypes: ['Group'] }), text('display', { mutability: 'readOnly' }), text('type', { mutability: 'readOnly' })],
  }),
];

/** The enterprise User extension (RFC 7643 §4.3), under its URN. */
export const ENTERPRISE_ATTRIBUTES: readonly AttributeDefinition[] = [
  ...['employeeNumber', 'costCenter', 'organization', 'division', 'department'].map((name) => text(name)),
  attribute('manager', 'complex', {
    subAttributes: [text('value'), attribute('$ref', 'reference', { referenceTypes: ['User'] }), text('displayName', { mutability: 'readOnly' })],
  }),
];

/** The Group attributes (RFC 7643 §4.2). */
export const GROUP_ATTRIBUTES: readonly AttributeDefinition[] = [
  text('displayName', { required: true }),
  attribute('members', 'complex', {
    multiValued: true,
    subAttributes: [
      text('value', { caseExact: true, mutability: 'immutable' }),
      attribute('$ref', 'reference', { mutability: 'immutable', referenceTypes: ['User', 'Group'] }),
      text('display', { mutability: 'readOnly' }),
      text('type', { mutability: 'immutable' }),
    ],
  }),
];

/** `meta` (RFC 7643 §3.1), read-only and filterable. */
const META = attribute('meta', 'complex', {
  mutability: 'readOnly',
  subAttributes: ['resourceType', 'created', 'lastModified', 'location', 'version'].map((name) =>
    attribute(name, name === 'created' || name === 'lastModified' ? 'dateTime' : 'string', { mutability: 'readOnly', caseExact: true }),
  ),
});

/** The resource types served. */
export type ResourceType = 'User' | 'Group';

/** The attributes of a resource type: its core schema's and, for a User, the enterprise extension's under its URN. */
export function schemaOf(type: ResourceType): { core: string; attributes: readonly AttributeDefinition[]; extensions: Readonly<Record<string, readonly AttributeDefinition[]>> } {
  return type === 'User'
    ? { core: USER_SCHEMA, attributes: [...COMMON, ...USER_ATTRIBUTES, META], extensions: { [ENTERPRISE_SCHEMA]: ENTERPRISE_ATTRIBUTES } }
    : { core: GROUP_SCHEMA, attributes: [...COMMON, ...GROUP_ATTRIBUTES, META], extensions: {} };
}

const findIn = (attributes: readonly AttributeDefinition[], name: string) => attributes.find((a) => a.name.toLowerCase() === name.toLowerCase());

/** A resolved attribute path: the schema URN it is under (undefined for the core schema), and the definitions along it. */
export interface ResolvedPath {
  readonly extension?: string;
  readonly definitions: readonly AttributeDefinition[];
  /** The path with every name spelled as the schema spells it. */
  readonly canonical: string;
}

/**
 * Resolves `[urn:…:]attr[.sub]` of a resource type without regard to case, or `undefined` for a
 * name the schema does not have. A core-schema URN prefix is allowed and dropped.
 */
export function resolvePath(type: ResourceType, path: string): ResolvedPath | undefined {
  const schema = schemaOf(type);
  let rest = path;
  let extension: string | undefined;
  let attributes = schema.attributes;
  const lower = path.toLowerCase();
  if (lower.startsWith('urn:')) {
    const urn = [schema.core, ...Object.keys(schema.extensions)].find((u) => lower === u.toLowerCase() || lower.startsWith(`${u.toLowerCase()}:`));
    if (!urn) return undefined;
    if (urn !== schema.core) {
      extension = urn;
      attributes = schema.extensions[urn]!;
    }
    rest = path.slice(urn.length + 1);
    if (rest === '') return { extension: urn, definitions: [], canonical: urn };
  }
  const names = rest.split('.');
  const definitions: AttributeDefinition[] = [];
  let scope: readonly AttributeDefinition[] | undefined = attributes;
  for (const name of names) {
    const found: AttributeDefinition | undefined = scope && findIn(scope, name);
    if (!found) return undefined;
    definitions.push(found);
    scope = found.subAttributes;
  }
  const canonical = definitions.map((d) => d.name).join('.');
  return { ...(extension ? { extension } : {}), definitions, canonical: extension ? `${extension}:${canonical}` : canonical };
}

/** RFC 7643 §7's schema documents of what is supported, for `GET /Schemas`. */
export function schemaDocuments(baseUrl: string): Record<string, unknown>[] {
  const document = (id: string, name: string, description: string, attributes: readonly AttributeDefinition[]) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id,
    name,
    description,
    attributes: attributes.filter((a) => a.name !== 'id' && a.name !== 'meta'),
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${id}` },
  });
  return [
    document(USER_SCHEMA, 'User', 'User Account', [...COMMON, ...USER_ATTRIBUTES]),
    document(ENTERPRISE_SCHEMA, 'EnterpriseUser', 'Enterprise User', ENTERPRISE_ATTRIBUTES),
    document(GROUP_SCHEMA, 'Group', 'Group', [...COMMON, ...GROUP_ATTRIBUTES]),
  ];
}

/** RFC 7643 §6's resource types, for `GET /ResourceTypes`. */
export function resourceTypeDocuments(baseUrl: string): Record<string, unknown>[] {
  const meta = (id: string) => ({ resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${id}` });
  return [
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'User Account',
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }],
      meta: meta('User'),
    },
    { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups', description: 'Group', schema: GROUP_SCHEMA, meta: meta('Group') },
  ];
}

/** RFC 7643 §5's configuration: PATCH, filters and ETags supported; bulk, sort and password change not. */
export function serviceProviderConfig(baseUrl: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: MAX_SCIM_BODY_BYTES },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      { type: 'oauthbearertoken', name: 'Bearer token', description: 'A per-tenant token issued with `scim-tokens issue`, sent as Authorization: Bearer', primary: true },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}
