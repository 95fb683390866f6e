import { AppError } from '../errors';
import { evaluateOidcClaims, loginReport, type LoginReport } from '../evaluate';
import type { Connection } from '../model';
import { evaluateSamlResponse } from '../saml/evaluate';
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

export type { LoginReport };

/** What an admin asks to evaluate: a SAML response (verified at `at`, by default its IssueInstant), or OIDC claims. */
export type LoginInput = { readonly samlResponse: string; readonly at?: Date } | { readonly claims: Readonly<Record<string, unknown>> };

/**
 * Evaluates a login through a connection as the ACS or callback would, against the users as
 * stored, writing nothing: no user, no replay-cache entry, no audit event.
 *
 * @throws AppError `invalid_request` when the input does not fit the connection's protocol;
 *   for SAML, `verifySamlResponse`'s codes when the response itself does not verify.
 */
export async function evaluateLoginInput(runtime: Runtime, connection: Connection, input: LoginInput): Promise<LoginReport> {
  if ('samlResponse' in input) {
    if (connection.protocol !== 'saml') throw new AppError('invalid_request', `connection ${connection.id} is an OIDC connection: evaluate claims (--claims), not a SAML response`);
    return loginReport(runtime, connection, await evaluateSamlResponse(runtime, connection, input.samlResponse, input.at));
  }
  if (connection.protocol !== 'oidc') throw new AppError('invalid_request', `connection ${connection.id} is a SAML connection: evaluate a response (--response), not claims`);
  return loginReport(runtime, connection, await evaluateOidcClaims(runtime, connection, input.claims));
}
