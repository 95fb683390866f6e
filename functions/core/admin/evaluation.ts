import { AppError } from '../errors';
import { evaluateOidcClaims, evaluateSamlResponse, type LoginEvaluation } from '../evaluate';
import type { Connection, User } from '../model';
import { applyChanges } from '../provisioning';
import type { Runtime } from '../runtime';

/**
 * The base64 SAMLResponse in a file as an admin saved it: the base64 itself, the raw XML (encoded
 * here), or a form body copied from a browser (`SAMLResponse=...&RelayState=...`).
 *
 * @throws AppError `invalid_request` when it is none of these.
 */
export function samlResponseFromText(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('<')) return Buffer.from(trimmed, 'utf8').toString('base64');
  const form = trimmed.startsWith('SAMLResponse=') ? new URLSearchParams(trimmed).get('SAMLResponse') : trimmed;
  const base64 = (form ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || !Buffer.from(base64, 'base64').toString('utf8').trimStart().startsWith('<')) {
    throw new AppError('invalid_request', 'is neither a base64 SAMLResponse nor SAML XML');
  }
  return base64;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * OIDC claims (an ID token's or userinfo's payload) from parsed JSON: an object with a `sub`.
 * @throws AppError `invalid_request`.
 */
export function parseClaims(value: unknown): Readonly<Record<string, unknown>> {
  if (!isRecord(value)) throw new AppError('invalid_request', 'must be a JSON object of claims');
  const claims = value;
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new AppError('invalid_request', 'has no "sub" claim (a non-empty string)');
  return claims;
}

/** What an admin asks to evaluate: a SAML response (verified at `at`, by default its IssueInstant), or OIDC claims. */
export type LoginInput = { readonly samlResponse: string; readonly at?: Date } | { readonly claims: Readonly<Record<string, unknown>> };

/** A login's evaluation, with the user as it would be after the login (`id` is `(new)` for a user it would create). */
export interface LoginReport {
  readonly connectionId: string;
  readonly tenantId: string;
  readonly protocol: Connection['protocol'];
  readonly evaluation: LoginEvaluation;
  readonly resultingUser?: User;
}

/**
 * Evaluates a login through a connection as the ACS or callback would, against the users as
 * stored, writing nothing: no user, no replay-cache entry, no audit event.
 *
 * @throws AppError `invalid_request` when the input does not fit the connection's protocol;
 *   for SAML, `verifySamlResponse`'s codes when the response itself does not verify.
 */
export async function evaluateLoginInput(runtime: Runtime, connection: Connection, input: LoginInput): Promise<LoginReport> {
  let evaluation: LoginEvaluation;
  if ('samlResponse' in input) {
    if (connection.protocol !== 'saml') throw new AppError('invalid_request', `connection ${connection.id} is an OIDC connection: evaluate claims (--claims), not a SAML response`);
    evaluation = await evaluateSamlResponse(runtime, connection, input.samlResponse, input.at);
  } else {
    if (connection.protocol !== 'oidc') throw new AppError('invalid_request', `connection ${connection.id} is a SAML connection: evaluate a response (--response), not claims`);
    evaluation = await evaluateOidcClaims(runtime, connection, input.claims);
  }
  const now = runtime.clock();
  const blank: User = { id: '(new)', tenantId: connection.tenantId, roles: [], attributes: {}, status: 'active', createdAt: now.toISOString(), updatedAt: now.toISOString() };
  const base = evaluation.outcome === 'refused' ? undefined : (evaluation.user ?? blank);
  const resultingUser = base && applyChanges(base, evaluation.changes, now);
  const refusal = resultingUser && (await storeRefusal(runtime, evaluation, resultingUser));
  const report = { connectionId: connection.id, tenantId: connection.tenantId, protocol: connection.protocol };
  if (refusal) return { ...report, evaluation: { ...evaluation, roles: [], outcome: 'refused', changes: [], refusal } };
  return { ...report, evaluation, ...(resultingUser ? { resultingUser } : {}) };
}

/**
 * What the store's transactions would refuse: an email another user of the tenant holds
 * (`email_in_use`), a new user beyond the seat limit (`seat_limit_reached`). Read here, so the
 * evaluation tells what the login's conditional writes would.
 */
async function storeRefusal(runtime: Runtime, evaluation: LoginEvaluation, user: User): Promise<LoginEvaluation['refusal']> {
  if (user.email && user.email !== evaluation.user?.email) {
    const holder = await runtime.store.findUserByEmail(user.tenantId, user.email);
    if (holder && holder.id !== evaluation.user?.id) return { code: 'email_in_use', detail: `another user of the tenant (${holder.id}) has the email ${user.email}` };
  }
  if (evaluation.outcome === 'create') {
    const tenant = await runtime.store.getTenant(user.tenantId);
    if (tenant?.seatLimit !== undefined && tenant.seatCount >= tenant.seatLimit) return { code: 'seat_limit_reached', detail: `all ${tenant.seatLimit} seats of the tenant are taken` };
  }
  return undefined;
}
