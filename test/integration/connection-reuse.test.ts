import { randomUUID } from 'node:crypto';
import { runAdmin } from '../../bin/admin';
import { createSamlHandler } from '../../functions/saml';
import type { SamlConnection, User } from '../../functions/core/model';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, postAcs, responseFor, testRuntime } from '../support/harness';

/** A connection id that is removed and added again, in the same tenant or another, inherits nobody's users. */

async function admin(...argv: string[]): Promise<number> {
  return runAdmin(argv, { stdout: { write: () => true }, stderr: { write: () => true }, env: process.env });
}

describe('a connection id used again', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime();
  });

  /** An IdP-initiated login of this subject; the user it signed in. */
  async function login(connection: SamlConnection, subject: string): Promise<User> {
    const response = await issueSamlResponse(responseFor(connection, runtime, { nameId: subject }));
    const acs = await postAcs(createSamlHandler(runtime), connection.id, response);
    expect(acs.statusCode).toBe(303);
    const users = await runtime.store.listUsers(connection.tenantId);
    const user = users.find((u) => u.email === subject.toLowerCase());
    expect(user).toBeDefined();
    return user!;
  }

  it('re-added in another tenant after connections remove, creates a new user there and leaves the first tenant\'s user untouched', async () => {
    const id = `reused-${randomUUID()}`;
    const subject = `ada-${randomUUID().slice(0, 8)}@example.test`;
    const inA = await createSamlConnection(runtime, { id, allowIdpInitiated: true });
    const ada = await login(inA, subject);

    expect(await admin('connections', 'remove', '--id', id)).toBe(0);
    expect(await runtime.store.findUserByLink({ connectionId: id, subject })).toBeUndefined();

    const inB = await createSamlConnection(runtime, { id, allowIdpInitiated: true });
    expect(inB.tenantId).not.toBe(inA.tenantId);
    const fresh = await login(inB, subject);
    expect(fresh.id).not.toBe(ada.id);
    expect(fresh.tenantId).toBe(inB.tenantId);
    expect(await runtime.store.getUser(ada.id)).toEqual(ada);
    expect(await runtime.store.listUsers(inA.tenantId)).toEqual([ada]);
  });

  it('re-added in the same tenant for another IdP after connections remove, does not sign in the old identity\'s user', async () => {
    const id = `reused-${randomUUID()}`;
    const subject = `grace-${randomUUID().slice(0, 8)}@example.test`;
    const first = await createSamlConnection(runtime, { id, allowIdpInitiated: true });
    const grace = await login(first, subject);
    expect(await admin('connections', 'remove', '--id', id)).toBe(0);

    // The same tenant, a connection to another IdP under the old id; its subject happens to be the same string.
    const again = await createSamlConnection(runtime, { id, tenantId: first.tenantId, idpEntityId: 'https://other-idp.example.test/metadata', allowIdpInitiated: true });
    const response = await issueSamlResponse(responseFor(again, runtime, { nameId: subject }));
    expect((await postAcs(createSamlHandler(runtime), id, response)).statusCode).toBe(409);
    // The old identity's link is gone: the login tried to create a user (whose email Grace holds) instead of signing in as Grace.
    expect(await runtime.store.findUserByLink({ connectionId: id, subject })).toBeUndefined();
    expect(await runtime.store.getUser(grace.id)).toEqual(grace);
  });

  it('moved to another tenant by a raw write that kept its links, treats the old links as no links', async () => {
    const id = `moved-${randomUUID()}`;
    const subject = `linus-${randomUUID().slice(0, 8)}@example.test`;
    const inA = await createSamlConnection(runtime, { id, allowIdpInitiated: true });
    const linus = await login(inA, subject);

    // Not through the admin CLI (which never changes a connection's tenant): the item overwritten in place.
    const tenantB = `tenant-${randomUUID()}`;
    await runtime.store.putTenant({ id: tenantB, name: 'Tenant B' });
    const inB: SamlConnection = { ...inA, tenantId: tenantB };
    await runtime.store.putConnection(inB);
    expect(await runtime.store.findUserByLink({ connectionId: id, subject })).toBeUndefined();

    const fresh = await login(inB, subject);
    expect(fresh.id).not.toBe(linus.id);
    expect(fresh.tenantId).toBe(tenantB);
    expect(await runtime.store.getUser(linus.id)).toEqual(linus);
  });
});
