import { randomUUID } from 'node:crypto';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, postAcs, problemCode, responseFor, sessionTokenOf, testRuntime } from '../support/harness';
import { verifySessionToken } from '../../functions/core/session-token';

describe('just-in-time provisioning under races', () => {
  it('200 concurrent first logins of one new user create exactly one user, and all 200 get sessions for it', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
    const handler = createSamlHandler(runtime);
    const nameId = `racer-${randomUUID()}@example.test`;
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => issueSamlResponse(responseFor(connection, runtime, { nameId }))),
    );

    const results = await Promise.all(responses.map((response) => postAcs(handler, connection.id, response)));

    expect(results.map((r) => r.statusCode)).toEqual(Array(200).fill(303));
    const jwks = { jwks: await runtime.signer.publicJwks() };
    const checks = { issuer: runtime.config.sessionIssuer, audience: runtime.config.sessionAudience };
    const subjects = new Set(await Promise.all(results.map(async (r) => (await verifySessionToken(sessionTokenOf(r), jwks, checks)).sub)));
    expect(subjects.size).toBe(1);
    const user = await runtime.store.findUserByLink({ connectionId: connection.id, subject: nameId });
    expect(subjects).toEqual(new Set([user!.id]));
    expect((await runtime.store.getTenant(connection.tenantId))!.seatCount).toBe(1);
  });

  it('concurrent first logins of distinct users stop cleanly at the seat limit', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 25 });
    const handler = createSamlHandler(runtime);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => issueSamlResponse(responseFor(connection, runtime, { nameId: `seat-${i}-${randomUUID()}@example.test` }))),
    );

    const results = await Promise.all(responses.map((response) => postAcs(handler, connection.id, response)));

    expect(results.filter((r) => r.statusCode === 303)).toHaveLength(25);
    const refused = results.filter((r) => r.statusCode !== 303);
    expect(refused.map((r) => `${r.statusCode} ${problemCode(r)}`)).toEqual(Array(15).fill('403 seat_limit_reached'));
    expect((await runtime.store.getTenant(connection.tenantId))!.seatCount).toBe(25);
  });
});
