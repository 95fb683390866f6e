import { AppError } from './errors';

/** Plain http to this machine: a test provider or `npm start`'s development IdPs. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/**
 * An address this service may fetch trust from (IdP metadata, OIDC discovery): https, or plain
 * http on this machine only, since a certificate or JWKS fetched in the clear could be anyone's.
 *
 * @throws AppError `invalid_request`.
 */
export function trustedUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('invalid_request', `${what} "${text}" is not an absolute URL`);
  }
  if (url.protocol === 'https:' || isLoopbackHttp(url)) return url;
  throw new AppError('invalid_request', `${what} must be https (plain http only on this machine), got ${url.protocol}//${url.host}`);
}
