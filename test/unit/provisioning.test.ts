import type { AttributeMapping, Connection, User } from '../../functions/core/model';
import {
  DEFAULT_ATTRIBUTE_MAPPING,
  applyChanges,
  evaluateLogin,
  mapAttributes,
  mayLinkByEmail,
  rolesFor,
  type AssertedIdentity,
} from '../../functions/core/provisioning';
import { normalizeEmail } from '../../functions/core/identity';

const identity = (attributes: Record<string, string[]>, subject = 'opaque-subject', emailVerified = true): AssertedIdentity => ({ subject, attributes, emailVerified });
const map = (attributes: AttributeMapping['attributes'], who: AssertedIdentity, required: string[] = []) => mapAttributes({ attributes, required }, who);

const connection = (overrides: Partial<Connection> = {}): Connection =>
  ({
    id: 'c1',
    tenantId: 't1',
    protocol: 'oidc',
    enabled: true,
    issuer: 'https://op.example.test',
    clientId: 'rp',
    clientSecretName: 'secret',
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: ['openid'],
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: ['https://app.example.test/'],
    ...overrides,
  }) as Connection;

const user = (overrides: Partial<User> = {}): User => ({
  id: 'u1',
  tenantId: 't1',
  roles: ['member'],
  attributes: {},
  status: 'active',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

describe('mapAttributes', () => {
  it('takes the first IdP attribute that has a non-blank value, and the NameID where the mapping says', () => {
    expect(map({ email: { from: ['email', 'mail', '$nameId'] } }, identity({ email: ['  '], mail: ['a@x.test'] })).email).toBe('a@x.test');
    expect(map({ email: { from: ['email', 'mail', '$nameId'] } }, identity({ email: [] }, 'n@x.test')).email).toBe('n@x.test');
    expect(map({ email: { from: ['email'] } }, identity({}, 'n@x.test')).email).toBeUndefined();
  });

  it('never reads an inherited property as an IdP attribute', () => {
    expect(map({ x: { from: ['toString', 'constructor', '__proto__'] } }, identity({})).attributes).toEqual({});
  });

  it('orders constant, join, from, then default', () => {
    const who = identity({ a: ['A'], b: ['B'] });
    expect(map({ x: { constant: 'C', from: ['a'], default: 'D' } }, who).attributes.x).toBe('C');
    expect(map({ x: { constant: ['C1', 'C2'], multiValued: true } }, who).attributes.x).toEqual(['C1', 'C2']);
    // A one-string constant or default is one value, never read character by character.
    expect(map({ x: { constant: 'Acme Corp' } }, who).attributes.x).toBe('Acme Corp');
    expect(map({ x: { constant: 'Acme Corp', multiValued: true } }, who).attributes.x).toEqual(['Acme Corp']);
    expect(map({ x: { from: ['absent'], default: 'Unassigned', multiValued: true } }, who).attributes.x).toEqual(['Unassigned']);
    expect(map({ x: { join: { parts: [['a'], ['missing'], ['b']], separator: '-' }, from: ['b'] } }, who).attributes.x).toBe('A-B');
    expect(map({ x: { join: { parts: [['a'], ['b']] } } }, who).attributes.x).toBe('A B');
    expect(map({ x: { join: { parts: [['missing']] }, from: ['b'] } }, who).attributes.x).toBe('B');
    expect(map({ x: { from: ['missing'], default: 'D' } }, who).attributes.x).toBe('D');
    expect(map({ x: { from: ['missing'] } }, who).attributes).toEqual({});
  });

  it('applies the transforms in order, to defaults as well', () => {
    const who = identity({ a: [' MiXed '], g: ['x;;y', 'z'] });
    expect(map({ x: { from: ['a'], transforms: ['trim', 'lowercase'] } }, who).attributes.x).toBe('mixed');
    expect(map({ x: { from: ['a'], transforms: ['uppercase'] } }, who).attributes.x).toBe(' MIXED ');
    expect(map({ x: { from: ['a'] } }, who).attributes.x).toBe(' MiXed ');
    expect(map({ x: { from: ['g'], transforms: [{ split: ';' }], multiValued: true } }, who).attributes.x).toEqual(['x', 'y', 'z']);
    expect(map({ x: { constant: ';', transforms: [{ split: ';' }] } }, who).attributes).toEqual({});
    expect(map({ x: { constant: 'a; ;b', transforms: [{ split: ';' }], multiValued: true } }, who).attributes.x).toEqual(['a', 'b']);
    expect(map({ x: { default: 'd', transforms: ['uppercase'] } }, who).attributes.x).toBe('D');
  });

  it('keeps the first value unless multi-valued', () => {
    const who = identity({ g: ['one', 'two'] });
    expect(map({ x: { from: ['g'] } }, who).attributes.x).toBe('one');
    expect(map({ x: { from: ['g'], multiValued: true } }, who).attributes.x).toEqual(['one', 'two']);
  });

  it('takes an email only when it is one address, normalized', () => {
    expect(map({ email: { from: ['e'] } }, identity({ e: [' A@X.Test'] })).email).toBeUndefined();
    expect(map({ email: { from: ['e'], transforms: ['trim'] } }, identity({ e: [' A@X.Test'] })).email).toBe('a@x.test');
    // Two values of which only one is an address are no answer to which is this person's.
    expect(map({ email: { from: ['e'] } }, identity({ e: ['not-an-email', 'b@x.test'] })).email).toBeUndefined();
    for (const value of ['a@x.test, b@y.test', 'a@x.test b@y.test', 'a@x.test,b@y.test', 'a@@x.test', 'a@x', '@x.test', 'a@.test', 'a@x.']) {
      expect(map({ email: { from: ['e'] } }, identity({ e: [value] })).email).toBeUndefined();
    }
  });

  it('builds the name from name, else given and family names', () => {
    const rules = { name: { from: ['name'] }, givenName: { from: ['gn'] }, familyName: { from: ['fn'] } };
    expect(map(rules, identity({ name: ['Full'], gn: ['Ada'], fn: ['L'] })).name).toBe('Full');
    expect(map(rules, identity({ gn: ['Ada'], fn: ['Lovelace'] })).name).toBe('Ada Lovelace');
    expect(map(rules, identity({ fn: ['Lovelace'] })).name).toBe('Lovelace');
    expect(map(rules, identity({})).name).toBeUndefined();
    expect(Object.keys(map(rules, identity({})))).toEqual(['attributes']);
    expect(map({ name: { from: ['n'], multiValued: true } }, identity({ n: ['A', 'B'] })).name).toBeUndefined();
  });

  it('refuses a missing required attribute with missing_required_attribute', () => {
    expect(() => map({ a: { from: ['a'] } }, identity({}), ['a'])).toThrow(expect.objectContaining({ code: 'missing_required_attribute' }));
    expect(map({ a: { from: ['a'] } }, identity({ a: ['v'] }), ['a']).attributes.a).toBe('v');
  });
});

describe('rolesFor', () => {
  const policy = { defaults: ['member'], groupRoles: { admins: ['admin', 'editor'], writers: ['editor'] } };
  it('maps groups to roles, sorted and once each, else the defaults', () => {
    expect(rolesFor(policy, { attributes: { groups: ['writers', 'admins'] } })).toEqual(['admin', 'editor']);
    expect(rolesFor(policy, { attributes: { groups: 'writers' } })).toEqual(['editor']);
    expect(rolesFor(policy, { attributes: { groups: ['constructor', 'toString'] } })).toEqual(['member']);
    expect(rolesFor(policy, { attributes: {} })).toEqual(['member']);
    expect(rolesFor({ defaults: ['member'] }, { attributes: { groups: ['admins'] } })).toEqual(['member']);
    expect(rolesFor({ ...policy, groupsAttribute: 'teams' }, { attributes: { teams: ['admins'], groups: ['writers'] } })).toEqual(['admin', 'editor']);
  });
});

describe('evaluateLogin', () => {
  it('refuses an unvouched email where the email matters, and drops it elsewhere', () => {
    const unverified = identity({ email: ['a@x.test'] }, 's', false);
    expect(() => evaluateLogin(connection({ allowedEmailDomains: ['x.test'] }), unverified, undefined)).toThrow(expect.objectContaining({ code: 'email_not_verified' }));
    expect(() => evaluateLogin(connection({ attributeMapping: { ...DEFAULT_ATTRIBUTE_MAPPING, required: ['email'] } }), unverified, undefined)).toThrow(
      expect.objectContaining({ code: 'email_not_verified' }),
    );
    const { profile, changes } = evaluateLogin(connection(), unverified, undefined);
    expect(profile.email).toBeUndefined();
    expect(changes.map((c) => c.field)).toEqual(['roles']);
    expect(evaluateLogin(connection({ allowedEmailDomains: [] }), unverified, undefined).profile.email).toBeUndefined();
    // No email at all is not an unvouched one: the domain bound refuses it for what it is.
    expect(() => evaluateLogin(connection({ allowedEmailDomains: ['x.test'] }), identity({}, 's', false), undefined)).toThrow(expect.objectContaining({ code: 'domain_not_allowed' }));
  });

  it('creates with every field but never ones, roles included; updates only always ones', () => {
    const c = connection({
      attributeMapping: { attributes: { a: { from: ['a'] }, o: { from: ['o'], update: 'on-create' }, n: { from: ['n'], update: 'never' } }, required: [] },
      roles: { defaults: ['member'], update: 'never' },
    });
    const who = identity({ a: ['A'], o: ['O'], n: ['N'] });
    expect(evaluateLogin(c, who, undefined).changes).toEqual([
      { field: 'roles', from: undefined, to: ['member'] },
      { field: 'attributes.a', from: undefined, to: 'A' },
      { field: 'attributes.o', from: undefined, to: 'O' },
    ]);
    const existing = user({ roles: ['owner'], attributes: { a: 'old', o: 'old', n: 'old' } });
    expect(evaluateLogin(c, who, existing).changes).toEqual([{ field: 'attributes.a', from: 'old', to: 'A' }]);
    expect(evaluateLogin(c, identity({ a: ['old'] }), existing).changes).toEqual([]);
  });
});

describe('evaluateLogin, the domains and the roles', () => {
  const who = (email: string) => identity({ email: [email], groups: ['admins'] });

  it('keeps a vouched email and bounds it by the allowed domains, whole and case-insensitively', () => {
    const bounded = connection({ allowedEmailDomains: ['X.Test'] });
    expect(evaluateLogin(bounded, who('a@x.test'), undefined).profile.email).toBe('a@x.test');
    for (const email of ['a@y.test', 'a@sub.x.test']) {
      expect(() => evaluateLogin(bounded, who(email), undefined)).toThrow(expect.objectContaining({ code: 'domain_not_allowed' }));
    }
    // An email attribute that is not an address is refused where the domains are bounded, not waved through.
    expect(() => evaluateLogin(bounded, who('not-an-email'), undefined)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
    expect(evaluateLogin(connection({ allowedEmailDomains: [] }), who('a@y.test'), undefined).profile.email).toBe('a@y.test');
  });

  it('gives group roles on creation and follows them by default; never gives the defaults on creation only', () => {
    const roles = { defaults: ['member'], groupRoles: { admins: ['admin'] } };
    const member = user({ roles: ['member'] });
    expect(evaluateLogin(connection({ roles }), who('a@x.test'), undefined).changes).toContainEqual({ field: 'roles', from: undefined, to: ['admin'] });
    expect(evaluateLogin(connection({ roles }), who('a@x.test'), member).changes).toContainEqual({ field: 'roles', from: ['member'], to: ['admin'] });
    expect(evaluateLogin(connection({ roles: { ...roles, update: 'on-create' } }), who('a@x.test'), undefined).changes).toContainEqual({ field: 'roles', from: undefined, to: ['admin'] });
    const never = connection({ roles: { ...roles, update: 'never' } });
    const created = evaluateLogin(never, who('a@x.test'), undefined);
    expect([created.roles, created.changes.find((c) => c.field === 'roles')?.to]).toEqual([['admin'], ['member']]);
    expect(evaluateLogin(never, who('a@x.test'), user({ roles: ['owner'] })).changes.map((c) => c.field)).not.toContain('roles');
  });

  it('never clears a stored field the login does not send', () => {
    const existing = user({ email: 'a@x.test', name: 'Ada', attributes: { dept: 'math' } });
    const c = connection({ attributeMapping: { attributes: { email: { from: ['email'] }, name: { from: ['name'] }, dept: { from: ['dept'] } }, required: [] } });
    expect(evaluateLogin(c, identity({}), existing).changes).toEqual([]);
  });
});

describe('applyChanges', () => {
  it('sets roles, email, name and attributes, and the update time', () => {
    const now = new Date('2026-02-02T00:00:00.000Z');
    const next = applyChanges(user({ email: 'old@x.test', name: 'Old', attributes: { keep: 'k' } }), [
      { field: 'roles', from: undefined, to: 'admin' },
      { field: 'email', from: undefined, to: 'new@x.test' },
      { field: 'name', from: 'Old', to: ['not', 'a', 'string'] },
      { field: 'attributes.team', from: undefined, to: ['a', 'b'] },
    ], now);
    expect(next).toMatchObject({ roles: ['admin'], email: 'new@x.test', attributes: { keep: 'k', team: ['a', 'b'] }, updatedAt: now.toISOString() });
    expect(next.name).toBeUndefined();
    expect(applyChanges(user(), [{ field: 'roles', from: ['member'], to: undefined }], now).roles).toEqual([]);
    expect(applyChanges(user(), [{ field: 'roles', from: undefined, to: ['b', 'a'] }], now).roles).toEqual(['b', 'a']);
  });
});

describe('mayLinkByEmail and normalizeEmail', () => {
  it('links only with linkByEmail, a vouched email, and its domain allowed', () => {
    const linking = connection({ linkByEmail: true, allowedEmailDomains: ['X.test'] });
    expect(mayLinkByEmail(linking, 'a@x.test', true)).toBe(true);
    expect(mayLinkByEmail(linking, 'a@x.test', false)).toBe(false);
    expect(mayLinkByEmail(linking, 'a@y.test', true)).toBe(false);
    expect(mayLinkByEmail(linking, 'a@sub.x.test', true)).toBe(false);
    expect(mayLinkByEmail(connection({ allowedEmailDomains: ['x.test'] }), 'a@x.test', true)).toBe(false);
    expect(mayLinkByEmail(connection({ linkByEmail: true }), 'a@x.test', true)).toBe(false);
  });

  it('normalizes case and Unicode composition, and repairs nothing', () => {
    expect(normalizeEmail('A\u0301@X.Test')).toBe('\u00e1@x.test');
    expect(normalizeEmail(' a@x.test ')).toBe(' a@x.test ');
  });
});

describe('DEFAULT_ATTRIBUTE_MAPPING', () => {
  const mapsEach = (names: string[], value: string, read: (profile: ReturnType<typeof mapAttributes>) => unknown, expected: unknown = value) => {
    for (const name of names) expect([name, read(mapAttributes(DEFAULT_ATTRIBUTE_MAPPING, identity({ [name]: [value] })))]).toEqual([name, expected]);
  };

  it('reads the email, name and group attribute names the big IdPs send', () => {
    mapsEach(
      ['email', 'mail', 'Email', 'emailAddress', 'User.email', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', 'urn:oid:0.9.2342.19200300.100.1.3'],
      'Ada@Example.test',
      (p) => p.email,
      'ada@example.test',
    );
    expect(mapAttributes(DEFAULT_ATTRIBUTE_MAPPING, identity({}, 'nameid@example.test')).email).toBe('nameid@example.test');
    mapsEach(
      ['given_name', 'givenName', 'firstName', 'FirstName', 'first_name', 'firstname', 'User.FirstName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname', 'urn:oid:2.5.4.42'],
      'Ada',
      (p) => p.attributes.givenName,
    );
    mapsEach(
      ['family_name', 'sn', 'surname', 'lastName', 'LastName', 'last_name', 'lastname', 'User.LastName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname', 'urn:oid:2.5.4.4'],
      'Lovelace',
      (p) => p.attributes.familyName,
    );
    mapsEach(
      ['name', 'displayName', 'cn', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', 'http://schemas.microsoft.com/identity/claims/displayname', 'urn:oid:2.16.840.1.113730.3.1.241'],
      'Ada L.',
      (p) => p.name,
    );
    mapsEach(
      ['groups', 'group', 'memberOf', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups', 'http://schemas.xmlsoap.org/claims/Group'],
      'admins',
      (p) => p.attributes.groups,
      ['admins'],
    );
    expect(DEFAULT_ATTRIBUTE_MAPPING.required).toEqual([]);
  });
});
