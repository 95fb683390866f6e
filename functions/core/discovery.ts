import { domainToASCII } from 'node:url';
import { AppError } from './errors';
import type { Connection } from './model';
import type { Runtime } from './runtime';

const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

/**
 * An email domain as discovery keys it: trimmed, Unicode NFC, lowercase, IDNA ASCII (so
 * `bücher.example` and `xn--bcher-kva.example` are one domain), a DNS name of two labels or more.
 *
 * @throws AppError `invalid_request` for anything that is not such a name.
 */
export function normalizeDomain(value: string): string {
  const ascii = domainToASCII(value.trim().normalize('NFC').toLowerCase().replace(/\.$/, ''));
  if (!DNS_NAME.test(ascii)) throw new AppError('invalid_request', 'that is not an email domain (e.g. example.com)');
  return ascii;
}

/**
 * The domain of an email address, normalized as `normalizeDomain` does.
 *
 * @throws AppError `invalid_request` when the value is not an email address.
 */
export function emailDomain(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) throw new AppError('invalid_request', 'enter your work email address, e.g. you@example.com');
  try {
    return normalizeDomain(email.slice(at + 1));
  } catch {
    throw new AppError('invalid_request', 'enter your work email address, e.g. you@example.com');
  }
}

/**
 * The connection a tenant signs in through: its default when that is enabled, else its only
 * enabled connection; `undefined` when it has none, or several and no enabled default.
 */
export function homeConnection(connections: readonly Connection[], defaultConnectionId: string | undefined): Connection | undefined {
  const enabled = connections.filter((c) => c.enabled);
  const chosen = enabled.find((c) => c.id === defaultConnectionId);
  if (chosen) return chosen;
  return enabled.length === 1 ? enabled[0] : undefined;
}

/**
 * Home-realm discovery: the login route of the connection that serves an email's domain, with
 * `return_to` passed on for that route to check against its allowlist.
 *
 * A domain nobody owns, and one whose tenant has no connection to send the person to, get the
 * same refusal with the same detail, so the answer tells nothing about domains that exist.
 *
 * @throws AppError `invalid_request` (not an email), `unknown_domain`, `service_unavailable`.
 */
export async function discoverLogin(
  runtime: Pick<Runtime, 'store' | 'config' | 'log'>,
  email: string,
  returnTo: string | undefined,
): Promise<{ location: string; connectionId: string }> {
  const domain = emailDomain(email);
  const claim = await runtime.store.getDomain(domain);
  const tenant = claim && (await runtime.store.getTenant(claim.tenantId));
  const connection = tenant && homeConnection(await runtime.store.listConnections(tenant.id), tenant.defaultConnectionId);
  if (!connection) {
    if (tenant) runtime.log({ level: 'WARN', message: 'discovery: the tenant of a claimed domain has no connection to sign in through', tenantId: tenant.id, domain });
    throw new AppError('unknown_domain', 'no organization signs in here with this email domain; ask your administrator for your sign-in link');
  }
  const query = returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : '';
  return { location: `${runtime.config.publicBaseUrl}/${connection.protocol}/${encodeURIComponent(connection.id)}/login${query}`, connectionId: connection.id };
}
