import { setupTokenHash } from './core/setup-tests';
import type { SetupLink } from './core/model';
import { redirect, type HttpResult } from './http';
import { page } from './pages';

/**
 * The answer to a setup link's test login, at the ACS or the OIDC callback: 303 back to the link's
 * page, which shows the evaluation, but only with the token of the link the test was started for
 * (the `sso_setup_return` cookie); otherwise a page saying the test is recorded. No session.
 */
export function setupTestAnswer(link: SetupLink, token: string | undefined, publicBaseUrl: string, clear: string[]): HttpResult {
  if (token && setupTokenHash(token) === link.hash) {
    const idp = link.idp ? `?idp=${encodeURIComponent(link.idp)}` : '';
    return redirect(303, `${publicBaseUrl}/setup/${token}/${link.protocol}${idp}`, clear);
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    cookies: clear,
    body: page('Test recorded', '<h1>The test sign-in is recorded</h1><p>Open your setup link again to see its result and activate the connection.</p>'),
  };
}
