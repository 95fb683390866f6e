import { randomUUID } from 'node:crypto';
import { revokeScimToken } from '../../functions/core/scim/tokens';
import { createSessionHandler } from '../../functions/session';
import { invoke, problemCode, sessionTokenOf, testRuntime } from '../support/harness';
import { person, samlDriver } from '../support/login-drivers';
import { oktaUser, PATCH_OP, SCIM_ENTERPRISE, SCIM_GROUP, SCIM_USER, scimRequester, scimTenant, uniqueEmail, type ScimAnswer, type TestRuntime } from '../support/scim';

const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const q = (filter: string) => encodeURIComponent(filter);
const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });
const scimError = (answer: ScimAnswer) => ({ status: answer.status, code: answer.body.code, scimType: answer.body.scimType, bodyStatus: answer.body.status });

async function seatsOf(runtime: TestRuntime, tenantId: string): Promise<number> {
  return (await runtime.store.getTenant(tenantId))!.seatCount;
}

async function sessionAnswer(runtime: TestRuntime, token: string) {
  const result = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } });
  return { status: result.statusCode, code: result.statusCode === 200 ? undefined : problemCode(result) };
}

describe("SCIM: Okta's documented provisioning sequence", () => {
  it('looks the user up, creates, reads, replaces, deactivates and reactivates it', async () => {
    const runtime = await testRuntime();
    const okta = await scimTenant(runtime);
    const userName = uniqueEmail('test.user');

    const lookup = await okta.request('GET', `/scim/v2/Users?filter=${q(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    expect(lookup.status).toBe(200);
    expect(lookup.headers['content-type']).toBe('application/scim+json');
    expect(lookup.body).toEqual({ schemas: [LIST], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

    const created = await okta.request('POST', '/scim/v2/Users', oktaUser(userName));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({
      schemas: [SCIM_USER],
      userName,
      name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: userName, type: 'work' }],
      displayName: 'Test User',
      locale: 'en-US',
      active: true,
      meta: { resourceType: 'User', location: `${runtime.config.publicBaseUrl}/scim/v2/Users/${id}`, version: 'W/"1"' },
    });
    expect(created.body).not.toHaveProperty('password');
    expect(created.headers.location).toBe((created.body.meta as { location: string }).location);
    expect(created.headers.etag).toBe('W/"1"');
    expect(await seatsOf(runtime, okta.tenantId)).toBe(1);
    expect(runtime.events.published.filter((e) => e.type === 'user.created')).toEqual([expect.objectContaining({ tenantId: okta.tenantId, userId: id, detail: { source: 'scim' } })]);

    const found = await okta.request('GET', `/scim/v2/Users?filter=${q(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    expect(found.body).toMatchObject({ totalResults: 1, itemsPerPage: 1, Resources: [{ id, userName }] });
    expect((await okta.request('GET', `/scim/v2/Users/${id}`)).body).toMatchObject({ id, userName, active: true });

    const replaced = await okta.request('PUT', `/scim/v2/Users/${id}`, { ...oktaUser(userName, { externalId: created.body.externalId }), id, name: { givenName: 'Another', familyName: 'User' } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ id, name: { givenName: 'Another', familyName: 'User' }, meta: { version: 'W/"2"' } });

    const deactivated = await okta.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', value: { active: false } }));
    expect(deactivated.status).toBe(200);
    expect(deactivated.body).toMatchObject({ id, active: false });
    expect(await seatsOf(runtime, okta.tenantId)).toBe(0);
    expect(runtime.events.published.map((e) => e.type)).toContain('user.deactivated');
    expect((await okta.request('GET', `/scim/v2/Users/${id}`)).body).toMatchObject({ active: false });

    const reactivated = await okta.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', value: { active: true } }));
    expect(reactivated.body).toMatchObject({ id, active: true });
    expect(await seatsOf(runtime, okta.tenantId)).toBe(1);
  });

  it('pushes a group, renames it, and adds and removes its members', async () => {
    const runtime = await testRuntime();
    const okta = await scimTenant(runtime);
    const user = await okta.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail()));
    const userId = user.body.id as string;

    const group = await okta.request('POST', '/scim/v2/Groups', { schemas: [SCIM_GROUP], displayName: 'Test SCIMv2', members: [] });
    expect(group.status).toBe(201);
    const groupId = group.body.id as string;
    expect(group.body).toMatchObject({ schemas: [SCIM_GROUP], displayName: 'Test SCIMv2', members: [], meta: { resourceType: 'Group' } });

    const renamed = await okta.request('PATCH', `/scim/v2/Groups/${groupId}`, patch({ op: 'replace', value: { id: groupId, displayName: 'Renamed SCIMv2' } }));
    expect(renamed).toMatchObject({ status: 200, body: { id: groupId, displayName: 'Renamed SCIMv2' } });

    const added = await okta.request('PATCH', `/scim/v2/Groups/${groupId}`, patch({ op: 'add', path: 'members', value: [{ value: userId, display: user.body.userName }] }));
    expect(added.body.members).toEqual([expect.objectContaining({ value: userId })]);

    const listed = await okta.request('GET', `/scim/v2/Groups?filter=${q('displayName eq "Renamed SCIMv2"')}&startIndex=1&count=100`);
    expect(listed.body).toMatchObject({ totalResults: 1, Resources: [{ id: groupId, members: [{ value: userId }] }] });

    const removed = await okta.request('PATCH', `/scim/v2/Groups/${groupId}`, patch({ op: 'remove', path: `members[value eq "${userId}"]` }));
    expect(removed).toMatchObject({ status: 200, body: { members: [] } });
  });
});

describe("SCIM: Microsoft Entra ID's provisioning sequence and its known quirks", () => {
  it('creates a user with the enterprise extension, then patches it with capitalized ops, string booleans, dotted and URN keys and null', async () => {
    const runtime = await testRuntime();
    const entra = await scimTenant(runtime);
    const userName = `Test_User_${randomUUID()}`;
    const externalId = randomUUID();

    expect((await entra.request('GET', `/scim/v2/Users?filter=${q(`userName eq "${userName}"`)}`)).body).toMatchObject({ totalResults: 0, Resources: [] });

    const created = await entra.request('POST', '/scim/v2/Users', {
      schemas: [SCIM_USER, SCIM_ENTERPRISE],
      externalId,
      userName,
      active: true,
      emails: [{ primary: true, type: 'work', value: `${userName}@testuser.com` }],
      meta: { resourceType: 'User' },
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      roles: [],
      [SCIM_ENTERPRISE]: { employeeNumber: '701984', department: 'Tour Operations', manager: { value: 'boss-1' } },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({ schemas: [SCIM_USER, SCIM_ENTERPRISE], externalId, userName, [SCIM_ENTERPRISE]: { employeeNumber: '701984', department: 'Tour Operations', manager: { value: 'boss-1' } } });

    expect((await entra.request('GET', `/scim/v2/Users?filter=${q(`externalId eq "${externalId}"`)}`)).body).toMatchObject({ totalResults: 1, Resources: [{ id }] });

    const multi = await entra.request('PATCH', `/scim/v2/Users/${id}`, patch(
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@example.test' },
      { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
    ));
    expect(multi.status).toBe(200);
    expect(multi.body).toMatchObject({ emails: [{ type: 'work', value: 'updatedEmail@example.test' }], name: { familyName: 'updatedFamilyName' } });
    expect((await runtime.store.findUserByEmail(entra.tenantId, 'updatedemail@example.test'))?.id).toBe(id);

    const pathless = await entra.request('PATCH', `/scim/v2/Users/${id}`, patch({
      op: 'Add',
      value: { 'name.givenName': 'John', [`${SCIM_ENTERPRISE}:department`]: 'Sales', [`${SCIM_ENTERPRISE}:manager`]: 'boss-2', title: 'Engineer' },
    }));
    expect(pathless.body).toMatchObject({ name: { givenName: 'John', familyName: 'updatedFamilyName' }, title: 'Engineer', [SCIM_ENTERPRISE]: { department: 'Sales', manager: { value: 'boss-2' }, employeeNumber: '701984' } });

    const nulled = await entra.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'Replace', path: 'title', value: null }));
    expect(nulled.status).toBe(200);
    expect(nulled.body).not.toHaveProperty('title');

    const disabled = await entra.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'Replace', path: 'active', value: 'False' }));
    expect(disabled.body).toMatchObject({ active: false });
    expect(await seatsOf(runtime, entra.tenantId)).toBe(0);
    const enabled = await entra.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', path: 'ACTIVE', value: 'True' }));
    expect(enabled.body).toMatchObject({ active: true });

    expect((await entra.request('DELETE', `/scim/v2/Users/${id}`)).status).toBe(204);
    expect(scimError(await entra.request('GET', `/scim/v2/Users/${id}`))).toMatchObject({ status: 404, code: 'not_found', bodyStatus: '404' });
    expect((await entra.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'Replace', path: 'active', value: 'False' }))).status).toBe(404);
    expect((await entra.request('DELETE', `/scim/v2/Users/${id}`)).status).toBe(404);
    expect((await entra.request('GET', `/scim/v2/Users?filter=${q(`externalId eq "${externalId}"`)}`)).body).toMatchObject({ totalResults: 0 });
    expect(await seatsOf(runtime, entra.tenantId)).toBe(0);
    expect(runtime.events.published.map((e) => e.type)).toContain('user.removed');
  });

  it('creates a group, lists it without members, and adds and removes members by value', async () => {
    const runtime = await testRuntime();
    const entra = await scimTenant(runtime);
    const userId = (await entra.request('POST', '/scim/v2/Users', { schemas: [SCIM_USER], userName: `u-${randomUUID()}`, active: true })).body.id as string;
    const displayName = `Group_${randomUUID()}`;
    const group = await entra.request('POST', '/scim/v2/Groups', {
      schemas: [SCIM_GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group'],
      externalId: randomUUID(),
      displayName,
      meta: { resourceType: 'Group' },
      members: [],
    });
    expect(group.status).toBe(201);
    const groupId = group.body.id as string;

    const listed = await entra.request('GET', `/scim/v2/Groups?excludedAttributes=members&filter=${q(`displayName eq "${displayName}"`)}`);
    expect(listed.body).toMatchObject({ totalResults: 1, Resources: [{ id: groupId, displayName }] });
    expect((listed.body.Resources as Record<string, unknown>[])[0]).not.toHaveProperty('members');

    const added = await entra.request('PATCH', `/scim/v2/Groups/${groupId}`, patch({ op: 'Add', path: 'members', value: [{ $ref: null, value: userId }] }));
    expect(added.body.members).toEqual([expect.objectContaining({ value: userId })]);
    const removed = await entra.request('PATCH', `/scim/v2/Groups/${groupId}`, patch({ op: 'Remove', path: 'members', value: [{ $ref: null, value: userId }] }));
    expect(removed.body.members).toEqual([]);

    await entra.request('PATCH', `/scim/v2/Groups/${groupId}`, patch({ op: 'Add', path: 'members', value: [{ value: userId }] }));
    expect((await entra.request('DELETE', `/scim/v2/Users/${userId}`)).status).toBe(204);
    expect((await entra.request('GET', `/scim/v2/Groups/${groupId}`)).body.members).toEqual([]);
  });
});

describe('SCIM: the shared provisioning core', () => {
  it('answers twenty concurrent creates of one userName (in any case) with one 201 and nineteen 409 uniqueness, moving the seat count by one', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const userName = uniqueEmail('race');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.request('POST', '/scim/v2/Users', oktaUser(i % 2 ? userName.toUpperCase() : userName, { emails: [{ value: uniqueEmail(), primary: true }] }))),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.status !== 201).map(scimError)).toEqual(Array(19).fill({ status: 409, code: 'user_name_in_use', scimType: 'uniqueness', bodyStatus: '409' }));
    expect(await seatsOf(runtime, client.tenantId)).toBe(1);
    expect((await runtime.store.listUsers(client.tenantId)).length).toBe(1);
  });

  it('keeps a deactivated user deactivated through a PUT that does not say active, and reactivates it through one that does', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const userName = uniqueEmail();
    const { active: _active, ...withoutActive } = oktaUser(userName);
    const id = (await client.request('POST', '/scim/v2/Users', withoutActive)).body.id as string;
    expect((await client.request('GET', `/scim/v2/Users/${id}`)).body).toMatchObject({ active: true });
    await client.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', path: 'active', value: false }));
    expect((await client.request('PUT', `/scim/v2/Users/${id}`, { ...withoutActive, title: 'Still away' })).body).toMatchObject({ active: false, title: 'Still away' });
    expect(await seatsOf(runtime, client.tenantId)).toBe(0);
    expect((await client.request('PUT', `/scim/v2/Users/${id}`, { ...withoutActive, active: true })).body).toMatchObject({ active: true });
    expect(await seatsOf(runtime, client.tenantId)).toBe(1);
  });

  it('keeps externalId unique per tenant, compared exactly, and email unique as for logins', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const externalId = `Ext-${randomUUID()}`;
    const email = uniqueEmail();
    expect((await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { externalId, emails: [{ value: email }] }))).status).toBe(201);
    expect(scimError(await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { externalId, emails: [] })))).toMatchObject({ status: 409, code: 'external_id_in_use', scimType: 'uniqueness' });
    expect((await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { externalId: externalId.toLowerCase(), emails: [] }))).status).toBe(201);
    expect(scimError(await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { emails: [{ value: email.toUpperCase() }] })))).toMatchObject({ status: 409, code: 'email_in_use', scimType: 'uniqueness' });
    expect(await seatsOf(runtime, client.tenantId)).toBe(2);
  });

  it('ends a live session at once when SCIM deactivates the user a JIT login joined, and refuses its next login', async () => {
    const { runtime, connection } = await samlDriver.setUp({ linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const client = await scimTenant(runtime, { tenantId: connection.tenantId });
    const who = person();
    const created = await client.request('POST', '/scim/v2/Users', oktaUser(who.email));
    const login = await samlDriver.logIn(runtime, connection, who);
    expect(login.statusCode).toBe(303);
    expect((await runtime.store.findUserByLink({ connectionId: connection.id, subject: who.subject }))?.id).toBe(created.body.id);
    expect(await seatsOf(runtime, connection.tenantId)).toBe(1);
    const token = sessionTokenOf(login);
    expect(await sessionAnswer(runtime, token)).toEqual({ status: 200, code: undefined });

    expect((await client.request('PATCH', `/scim/v2/Users/${created.body.id}`, patch({ op: 'replace', value: { active: false } }))).status).toBe(200);

    expect(await sessionAnswer(runtime, token)).toEqual({ status: 401, code: 'session_revoked' });
    const again = await samlDriver.logIn(runtime, connection, who);
    expect({ status: again.statusCode, code: problemCode(again) }).toEqual({ status: 403, code: 'user_deactivated' });
  });

  it('joins a JIT login to the SCIM user whose externalId is its subject only where the connection says scimSubject', async () => {
    const joining = await samlDriver.setUp({ scimSubject: 'externalId' });
    const who = person();
    const client = await scimTenant(joining.runtime, { tenantId: joining.connection.tenantId });
    const created = await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { externalId: who.subject, emails: [] }));
    expect((await samlDriver.logIn(joining.runtime, joining.connection, who)).statusCode).toBe(303);
    expect((await joining.runtime.store.findUserByLink({ connectionId: joining.connection.id, subject: who.subject }))?.id).toBe(created.body.id);
    expect(await seatsOf(joining.runtime, joining.connection.tenantId)).toBe(1);

    const separate = await samlDriver.setUp({});
    const other = await scimTenant(separate.runtime, { tenantId: separate.connection.tenantId });
    const provisioned = await other.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { externalId: who.subject, emails: [] }));
    expect((await samlDriver.logIn(separate.runtime, separate.connection, who)).statusCode).toBe(303);
    expect((await separate.runtime.store.findUserByLink({ connectionId: separate.connection.id, subject: who.subject }))?.id).not.toBe(provisioned.body.id);
    expect(await seatsOf(separate.runtime, separate.connection.tenantId)).toBe(2);
  });

  it('counts the seat limit once across SCIM creates and JIT logins', async () => {
    const { runtime, connection } = await samlDriver.setUp({ linkByEmail: true, allowedEmailDomains: ['example.test'] }, { seatLimit: 2 });
    const client = await scimTenant(runtime, { tenantId: connection.tenantId });
    const a = person();
    const created = await client.request('POST', '/scim/v2/Users', oktaUser(a.email));
    expect(created.status).toBe(201);
    expect((await samlDriver.logIn(runtime, connection, person())).statusCode).toBe(303);

    const refused = await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail()));
    expect(scimError(refused)).toEqual({ status: 403, code: 'seat_limit_reached', scimType: undefined, bodyStatus: '403' });
    expect(refused.body).toMatchObject({ schemas: [ERROR], detail: expect.stringContaining('2 seats') });
    const jitRefused = await samlDriver.logIn(runtime, connection, person());
    expect({ status: jitRefused.statusCode, code: problemCode(jitRefused) }).toEqual({ status: 403, code: 'seat_limit_reached' });
    // The SCIM user's own login joins it and takes no second seat.
    expect((await samlDriver.logIn(runtime, connection, a)).statusCode).toBe(303);
    expect(await seatsOf(runtime, connection.tenantId)).toBe(2);

    await client.request('PATCH', `/scim/v2/Users/${created.body.id}`, patch({ op: 'replace', path: 'active', value: false }));
    expect((await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail()))).status).toBe(201);
    expect(scimError(await client.request('PATCH', `/scim/v2/Users/${created.body.id}`, patch({ op: 'replace', path: 'active', value: true })))).toMatchObject({ status: 403, code: 'seat_limit_reached' });
    expect(await seatsOf(runtime, connection.tenantId)).toBe(2);
  });

  it('gives roles by the one rule: whichever of a login and a SCIM group change set them last', async () => {
    const { runtime, connection } = await samlDriver.setUp({ linkByEmail: true, allowedEmailDomains: ['example.test'], roles: { defaults: ['member'], groupRoles: { Engineering: ['engineer'] } } });
    await runtime.store.setDirectoryRoles(connection.tenantId, { groupRoles: { Admins: ['admin'] }, defaults: ['viewer'] });
    const client = await scimTenant(runtime, { tenantId: connection.tenantId });
    const who = person();
    const userId = (await client.request('POST', '/scim/v2/Users', oktaUser(who.email))).body.id as string;
    const roles = async () => (await runtime.store.getUser(userId))!.roles;
    expect(await roles()).toEqual(['viewer']);

    const group = await client.request('POST', '/scim/v2/Groups', { schemas: [SCIM_GROUP], displayName: 'Admins', members: [{ value: userId }] });
    expect(await roles()).toEqual(['admin']);

    expect((await samlDriver.logIn(runtime, connection, { ...who, groups: ['Engineering'] })).statusCode).toBe(303);
    expect(await roles()).toEqual(['engineer']);

    await client.request('PATCH', `/scim/v2/Groups/${group.body.id}`, patch({ op: 'remove', path: `members[value eq "${userId}"]` }));
    expect(await roles()).toEqual(['viewer']);
  });
});

describe('SCIM: tenants are apart', () => {
  it("answers 404 for another tenant's ids, never lists its users, and lets a userName it holds be created here", async () => {
    const runtime = await testRuntime();
    const a = await scimTenant(runtime);
    const b = await scimTenant(runtime);
    const shared = uniqueEmail('shared');
    const theirs = await b.request('POST', '/scim/v2/Users', oktaUser(shared));
    const theirId = theirs.body.id as string;
    const theirGroup = (await b.request('POST', '/scim/v2/Groups', { schemas: [SCIM_GROUP], displayName: 'B team', members: [{ value: theirId }] })).body.id as string;

    expect(scimError(await a.request('GET', `/scim/v2/Users/${theirId}`))).toMatchObject({ status: 404, code: 'not_found' });
    expect((await a.request('PUT', `/scim/v2/Users/${theirId}`, oktaUser(shared))).status).toBe(404);
    expect((await a.request('PATCH', `/scim/v2/Users/${theirId}`, patch({ op: 'replace', path: 'active', value: false }))).status).toBe(404);
    expect((await a.request('DELETE', `/scim/v2/Users/${theirId}`)).status).toBe(404);
    expect((await a.request('GET', `/scim/v2/Groups/${theirGroup}`)).status).toBe(404);
    expect((await a.request('GET', `/scim/v2/Users?filter=${q(`userName eq "${shared}"`)}`)).body).toMatchObject({ totalResults: 0 });
    expect((await a.request('GET', `/scim/v2/Users?filter=${q(`id eq "${theirId}"`)}`)).body).toMatchObject({ totalResults: 0 });
    expect((await a.request('GET', '/scim/v2/Users')).body).toMatchObject({ totalResults: 0 });
    expect((await a.request('GET', '/scim/v2/Groups')).body).toMatchObject({ totalResults: 0 });
    expect(scimError(await a.request('POST', '/scim/v2/Groups', { schemas: [SCIM_GROUP], displayName: 'Reach', members: [{ value: theirId }] }))).toMatchObject({ status: 400, code: 'invalid_value', scimType: 'invalidValue' });

    expect((await a.request('POST', '/scim/v2/Users', oktaUser(shared))).status).toBe(201);
    expect((await b.request('GET', `/scim/v2/Users/${theirId}`)).body).toMatchObject({ userName: shared, active: true });
  });
});

describe('SCIM: filters, paging and projections', () => {
  async function directory() {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const tag = randomUUID().slice(0, 8);
    const people = [
      { userName: `alice-${tag}@example.test`, name: { givenName: 'Alice', familyName: 'Smith' }, title: 'Engineer', [SCIM_ENTERPRISE]: { department: 'Eng' } },
      { userName: `bob-${tag}@example.test`, name: { givenName: 'Bob', familyName: 'Smythe' } },
      { userName: `carol-${tag}@example.test`, name: { givenName: 'Carol', familyName: 'Jones' }, active: false },
    ];
    const ids: string[] = [];
    for (const p of people) ids.push((await client.request('POST', '/scim/v2/Users', oktaUser(p.userName, { ...p, externalId: `EXT-${p.userName}` }))).body.id as string);
    const names = async (filter: string) => {
      const answer = await client.request('GET', `/scim/v2/Users?filter=${q(filter)}`);
      expect(answer.status).toBe(200);
      return (answer.body.Resources as { userName: string }[]).map((r) => r.userName.split('-')[0]).sort();
    };
    return { client, tag, ids, names };
  }

  it('evaluates the RFC grammar: operators, and/or/not, grouping, complex filters, case per attribute', async () => {
    const { tag, names } = await directory();
    expect(await names(`USERNAME eq "ALICE-${tag}@EXAMPLE.TEST"`)).toEqual(['alice']);
    expect(await names(`externalId eq "EXT-alice-${tag}@example.test"`)).toEqual(['alice']);
    expect(await names(`externalId eq "ext-alice-${tag}@example.test"`)).toEqual([]);
    expect(await names(`emails[type eq "work" and value co "bob-${tag}"]`)).toEqual(['bob']);
    // Entra's form: the comparison after the value path binds to the same email as the bracket's.
    expect(await names(`emails[type eq "work"].value eq "BOB-${tag}@example.test"`)).toEqual(['bob']);
    expect(await names(`emails[type eq "home"].value eq "bob-${tag}@example.test"`)).toEqual([]);
    expect(await names(`emails[type eq "work"].value pr and userName ew "${tag}@example.test"`)).toEqual(['alice', 'bob', 'carol']);
    expect(await names(`emails.value eq "CAROL-${tag}@example.test"`)).toEqual(['carol']);
    expect(await names(`name.familyName sw "Sm" and userName ew "${tag}@example.test"`)).toEqual(['alice', 'bob']);
    expect(await names(`userName ew "${tag}@example.test" and not (active eq true)`)).toEqual(['carol']);
    expect(await names(`userName ew "${tag}@example.test" and (title pr or name.givenName eq "carol")`)).toEqual(['alice', 'carol']);
    expect(await names(`userName ew "${tag}@example.test" and ${SCIM_ENTERPRISE}:department eq "eng"`)).toEqual(['alice']);
    expect(await names(`userName ew "${tag}@example.test" and meta.created ge "2000-01-01T00:00:00Z" and userName ne "bob-${tag}@example.test"`)).toEqual(['alice', 'carol']);
  });

  it('binds a comparison after a value path to the element the brackets select, not to any other', async () => {
    const { client, tag, names } = await directory();
    const home = `dave-home-${tag}@example.test`;
    const work = `dave-${tag}@example.test`;
    const emails = [{ type: 'home', value: home }, { type: 'work', value: work, primary: true }];
    expect((await client.request('POST', '/scim/v2/Users', oktaUser(work, { emails }))).status).toBe(201);
    expect(await names(`emails[type eq "home"].value eq "${home}"`)).toEqual(['dave']);
    // Dave has a work email and an email of that value, but not one email that is both.
    expect(await names(`emails[type eq "work"].value eq "${home}"`)).toEqual([]);
    expect(await names(`emails[type eq "work"].value eq "${work}" or emails[type eq "home"].value eq "nobody"`)).toEqual(['dave']);
  });

  it.each([
    ['a truncated expression', 'userName eq'],
    ['an unknown operator', 'userName zz "a"'],
    ['an attribute Users do not have', 'nickname2 eq "a"'],
    ['an ordering of booleans', 'active gt true'],
    ['an unbalanced group', '(userName eq "a"'],
  ])('refuses %s with 400 invalidFilter', async (_, filter) => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    expect(scimError(await client.request('GET', `/scim/v2/Users?filter=${q(filter)}`))).toEqual({ status: 400, code: 'invalid_filter', scimType: 'invalidFilter', bodyStatus: '400' });
  });

  it('answers tooMany when a filter that is no key lookup would examine more users than the bound, and still reads keys', async () => {
    const { client, tag } = await directory();
    const bounded = scimRequester(await testRuntime(), client.token, { maxExamined: 2 });
    expect(scimError(await bounded('GET', `/scim/v2/Users?filter=${q(`userName ew "${tag}@example.test"`)}`))).toEqual({ status: 400, code: 'too_many', scimType: 'tooMany', bodyStatus: '400' });
    expect(scimError(await bounded('GET', '/scim/v2/Users'))).toMatchObject({ code: 'too_many' });
    expect((await bounded('GET', `/scim/v2/Users?filter=${q(`userName eq "bob-${tag}@example.test"`)}`)).body).toMatchObject({ totalResults: 1 });
    expect((await scimRequester(await testRuntime(), client.token, { maxExamined: 3 })('GET', '/scim/v2/Users')).body).toMatchObject({ totalResults: 3 });
  });

  it('pages with startIndex and count, and returns only the attributes asked for', async () => {
    const { client, tag } = await directory();
    const page = await client.request('GET', `/scim/v2/Users?filter=${q(`userName ew "${tag}@example.test"`)}&startIndex=2&count=1&attributes=userName,name.givenName`);
    expect(page.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1 });
    const [resource] = page.body.Resources as Record<string, unknown>[];
    expect(Object.keys(resource!).sort()).toEqual(['id', 'name', 'schemas', 'userName']);
    expect(Object.keys(resource!.name as object)).toEqual(['givenName']);
    const without = await client.request('GET', `/scim/v2/Users?filter=${q(`userName ew "${tag}@example.test"`)}&excludedAttributes=emails,meta`);
    expect((without.body.Resources as Record<string, unknown>[]).every((r) => !('emails' in r) && !('meta' in r) && 'userName' in r)).toBe(true);
  });
});

describe('SCIM: requests refused before they change anything', () => {
  it('answers 401 with WWW-Authenticate: Bearer and a SCIM error for no token, a wrong one and a revoked one', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    expect((await client.request('GET', '/scim/v2/Users')).status).toBe(200);
    for (const request of [scimRequester(runtime, undefined), scimRequester(runtime, `${client.token}x`), scimRequester(runtime, 'scim_not-a-token')]) {
      const answer = await request('GET', '/scim/v2/Users');
      expect(scimError(answer)).toEqual({ status: 401, code: 'unauthenticated', scimType: undefined, bodyStatus: '401' });
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(answer.body.schemas).toEqual([ERROR]);
    }
    const [token] = await runtime.store.listScimTokens(client.tenantId);
    await revokeScimToken(runtime.store, token!.id);
    expect(scimError(await client.request('GET', '/scim/v2/Users'))).toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('refuses a body over 1 MB with 413 before parsing it, and malformed JSON with invalidSyntax', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const big = JSON.stringify(oktaUser(uniqueEmail(), { title: 'x'.repeat(1024 * 1024) }));
    expect(scimError(await client.request('POST', '/scim/v2/Users', big))).toEqual({ status: 413, code: 'payload_too_large', scimType: undefined, bodyStatus: '413' });
    // Under the limit, the same padding in an attribute the schema does not have is read and dropped.
    const fits = JSON.stringify(oktaUser(uniqueEmail(), { padding: 'x'.repeat(1000 * 1000) }));
    expect((await client.request('POST', '/scim/v2/Users', fits)).status).toBe(201);
    const stored = JSON.stringify(oktaUser(uniqueEmail(), { title: 'x'.repeat(100 * 1024) }));
    expect(scimError(await client.request('POST', '/scim/v2/Users', stored))).toMatchObject({ status: 400, code: 'invalid_value' });
    expect(scimError(await client.request('POST', '/scim/v2/Users', '{"userName": "a",'))).toEqual({ status: 400, code: 'invalid_request', scimType: 'invalidSyntax', bodyStatus: '400' });
    expect(await seatsOf(runtime, client.tenantId)).toBe(1);
  });

  it('answers 412 to an If-Match naming a stale version, and applies it when current', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const created = await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail()));
    const id = created.body.id as string;
    const stale = await client.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', path: 'title', value: 'Stale' }), { 'if-match': 'W/"0"' });
    expect(scimError(stale)).toMatchObject({ status: 412, code: 'precondition_failed' });
    expect((await client.request('DELETE', `/scim/v2/Users/${id}`, undefined, { 'if-match': 'W/"7"' })).status).toBe(412);
    const current = await client.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', path: 'title', value: 'Current' }), { 'if-match': created.headers.etag! });
    expect(current).toMatchObject({ status: 200, body: { title: 'Current' }, headers: { etag: 'W/"2"' } });
  });

  it('never loses an update silently: concurrent PATCHes each succeed on their own version or get 409', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const id = (await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail()))).body.id as string;
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => client.request('PATCH', `/scim/v2/Users/${id}`, patch({ op: 'replace', path: 'title', value: `T${i}` }))));
    expect(answers.every((a) => a.status === 200 || (a.status === 409 && a.body.code === 'write_conflict'))).toBe(true);
    const versions = answers.filter((a) => a.status === 200).map((a) => a.headers.etag);
    expect(new Set(versions).size).toBe(versions.length);
    const stored = await client.request('GET', `/scim/v2/Users/${id}`);
    expect(stored.headers.etag).toBe(`W/"${1 + versions.length}"`);
  });

  it.each([
    ['a path to the read-only id', patch({ op: 'replace', path: 'id', value: 'mine' }), 'mutability', 'mutability'],
    ['a removal without a path', patch({ op: 'remove' }), 'no_target', 'noTarget'],
    ['an attribute Users do not have', patch({ op: 'replace', path: 'shoeSize', value: '44' }), 'invalid_value', 'invalidValue'],
    ['an op that is none of add, replace, remove', patch({ op: 'move', path: 'title', value: 'x' }), 'invalid_request', 'invalidSyntax'],
    ['a body that is no PatchOp', { Operations: [{ op: 'replace', path: 'title', value: 'x' }] }, 'invalid_request', 'invalidSyntax'],
  ])('refuses a PATCH with %s', async (_, body, code, scimType) => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    const id = (await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail()))).body.id as string;
    expect(scimError(await client.request('PATCH', `/scim/v2/Users/${id}`, body))).toMatchObject({ status: 400, code, scimType });
    expect((await client.request('GET', `/scim/v2/Users/${id}`)).headers.etag).toBe('W/"1"');
  });

  it('refuses a user without userName, with a control character in it, or with an email that is not one', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    expect(scimError(await client.request('POST', '/scim/v2/Users', oktaUser('', {})))).toMatchObject({ status: 400, code: 'invalid_value' });
    expect(scimError(await client.request('POST', '/scim/v2/Users', oktaUser(`bell\u0007${uniqueEmail()}`, { emails: [] })))).toMatchObject({ status: 400, code: 'invalid_value' });
    expect(scimError(await client.request('POST', '/scim/v2/Users', oktaUser(uniqueEmail(), { emails: [{ value: ' padded@example.test' }] })))).toMatchObject({ status: 400, code: 'invalid_value' });
    expect(await seatsOf(runtime, client.tenantId)).toBe(0);
  });
});

describe('SCIM: discovery', () => {
  it('describes exactly what is supported', async () => {
    const runtime = await testRuntime();
    const client = await scimTenant(runtime);
    expect((await client.request('GET', '/scim/v2/ServiceProviderConfig')).body).toMatchObject({ patch: { supported: true }, filter: { supported: true }, etag: { supported: true }, bulk: { supported: false }, sort: { supported: false } });
    const schemas = await client.request('GET', '/scim/v2/Schemas');
    expect((schemas.body.Resources as { id: string }[]).map((s) => s.id)).toEqual([SCIM_USER, SCIM_ENTERPRISE, SCIM_GROUP]);
    expect((await client.request('GET', `/scim/v2/Schemas/${SCIM_ENTERPRISE}`)).body).toMatchObject({ name: 'EnterpriseUser' });
    expect((await client.request('GET', '/scim/v2/ResourceTypes/User')).body).toMatchObject({ endpoint: '/Users', schemaExtensions: [{ schema: SCIM_ENTERPRISE, required: false }] });
  });
});
