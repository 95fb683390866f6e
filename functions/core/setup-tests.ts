import { createHash } from 'node:crypto';
import { audit } from './audit';
import { AppError } from './errors';
import { loginReport, type LoginEvaluation } from './evaluate';
import type { Connection, OidcConnection, SamlConnection, SetupLink, SetupTestResult } from './model';
import type { Runtime } from './runtime';
import type { Store } from './store/store';

/**
 * What the login functions need of setup links to end a test login (the link its answer belongs
 * to, the evaluation recorded on it, the audit of the use) without the admin's setup code: the
 * SAML and OIDC functions import this, never `admin/setup-links.ts`.
 */

/** The SHA-256 of a setup token, hex: the only form in which a token is stored. */
export const setupTokenHash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');


/** {@link openSetupLink} by the token's hash. @throws AppError `setup_link_unknown`, `setup_link_revoked`, `setup_link_expired`. */
export async function openSetupLinkByHash(store: Store, hash: string, now: Date): Promise<SetupLink> {
  const link = await store.findSetupLink(hash);
  if (!link) throw new AppError('setup_link_unknown', 'this setup link does not exist; ask for a new one');
  if (link.revokedAt) throw new AppError('setup_link_revoked', 'this setup link has been revoked; ask for a new one');
  if (Date.parse(link.validUntil) <= now.getTime()) throw new AppError('setup_link_expired', `this setup link expired at ${link.validUntil}; ask for a new one`);
  return link;
}


/** The audit event of a change made through a link, naming it (and published as `setup_link.used`). */
export async function auditSetupUse(runtime: Runtime, link: SetupLink, action: string, detail: Readonly<Record<string, unknown>> = {}): Promise<void> {
  await audit(runtime, {
    tenantId: link.tenantId,
    type: 'setup_link.used',
    at: runtime.clock().toISOString(),
    ...(link.connectionId ? { connectionId: link.connectionId } : {}),
    detail: { setupLinkId: link.id, action, ...detail },
  });
}

/**
 * The link's connection as stored, if it exists yet. A connection of that id that belongs to
 * another tenant or protocol is refused: a link only ever touches its own tenant's connection.
 *
 * @throws AppError `setup_link_forbidden`.
 */
export async function setupConnection(store: Store, link: SetupLink): Promise<SamlConnection | undefined> {
  if (!link.connectionId || link.protocol !== 'saml') throw new AppError('setup_link_forbidden', `this setup link configures ${link.protocol.toUpperCase()}, not SAML`);
  const connection = await store.getConnection(link.connectionId);
  if (!connection) return undefined;
  if (connection.tenantId !== link.tenantId || connection.protocol !== 'saml') {
    throw new AppError('setup_link_forbidden', `connection ${link.connectionId} is not this link's to change`);
  }
  return connection;
}


/**
 * The link and connection an answer to a test login belongs to: the link the test was started
 * for, refused if it was revoked or expired since, and the connection the answer came to, which
 * must be that link's, of its tenant and of the protocol of the route (enabled or not).
 *
 * @throws AppError `unknown_connection`, `setup_link_unknown`, `setup_link_revoked`, `setup_link_expired`.
 */
export async function openSetupTest<P extends Connection['protocol']>(
  runtime: Runtime,
  setupLinkHash: string,
  connectionId: string,
  protocol: P,
): Promise<{ link: SetupLink; connection: Extract<Connection, { protocol: P }> }> {
  const link = await openSetupLinkByHash(runtime.store, setupLinkHash, runtime.clock());
  const connection = await runtime.store.getConnection(connectionId);
  if (!connection || connection.protocol !== protocol || connection.id !== link.connectionId || connection.tenantId !== link.tenantId) {
    throw new AppError('unknown_connection', `connection ${connectionId} is not the one this test was started for`);
  }
  return { link, connection: connection as Extract<Connection, { protocol: P }> };
}

/**
 * Ends a test login whose answer passed every check a login's passes: evaluates it as `evaluate`
 * would (the mapped user, roles, attributes, and a refusal in words), against the users as
 * stored, writing no user and no session, and records the result on the link (one store of test
 * results for SAML and OIDC, audited as `setup_link.used` with `connection.tested`).
 *
 * @throws AppError `setup_link_revoked`, `service_unavailable`; for SAML, `verifySamlResponse`'s codes.
 */
export async function recordSetupTest(runtime: Runtime, link: SetupLink, connection: Connection, evaluated: LoginEvaluation, now: Date): Promise<SetupTestResult> {
  const report = await loginReport(runtime, connection, evaluated);
  const { evaluation } = report;
  const user = report.resultingUser;
  const result: SetupTestResult = {
    at: now.toISOString(),
    outcome: evaluation.outcome,
    subject: evaluation.identity.subject,
    ...(user?.email ? { email: user.email } : {}),
    ...(user?.name ? { name: user.name } : {}),
    roles: [...evaluation.roles],
    attributes: Object.fromEntries(Object.entries(evaluation.identity.attributes).map(([name, values]) => [name, values.join(', ')])),
    ...(evaluation.refusal ? { refusal: evaluation.refusal } : {}),
  };
  await runtime.store.updateSetupLink(link.hash, { test: result });
  await auditSetupUse(runtime, link, 'connection.tested', { outcome: result.outcome, ...(result.refusal ? { code: result.refusal.code } : {}) });
  return result;
}

/**
 * The link's OIDC connection as stored, if it exists yet; refused as {@link setupConnection} refuses.
 * @throws AppError `setup_link_forbidden`.
 */
export async function setupOidcConnection(store: Store, link: SetupLink): Promise<OidcConnection | undefined> {
  if (!link.connectionId || link.protocol !== 'oidc') throw new AppError('setup_link_forbidden', `this setup link configures ${link.protocol.toUpperCase()}, not OIDC`);
  const connection = await store.getConnection(link.connectionId);
  if (!connection) return undefined;
  if (connection.tenantId !== link.tenantId || connection.protocol !== 'oidc') throw new AppError('setup_link_forbidden', `connection ${link.connectionId} is not this link's to change`);
  return connection;
}
