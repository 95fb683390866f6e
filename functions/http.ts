import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { AppError, isAppError, toProblem, toScimError, type Problem, type RefusalReason } from './core/errors';
import { RECORD_ID } from './core/model';
import { SESSION_COOKIE } from './core/sessions';
import { errorPage, type PageLinks } from './pages';
import { endRequest, startRequest } from './observability';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type RouteHandler = (event: HttpEvent) => Promise<HttpResult>;

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sso' });

/**
 * The one house middleware around every handler: dispatch on the route key, a request id on
 * every log line, one structured line per request, and the one error funnel that turns any
 * error into the contract's problem+json (or an HTML page for a browser), or for the SCIM
 * routes into RFC 7644's error document, derived from the same error table.
 */
export function httpHandler(routes: Readonly<Record<string, RouteHandler>>, options: { readonly appUrl?: string; readonly errors?: 'problem' | 'scim' } = {}) {
  return middy<HttpEvent, HttpResult, Error, Context>()
    .use({
      before: ({ event }) => {
        logger.resetKeys();
        logger.appendKeys({ requestId: event.requestContext?.requestId, route: event.routeKey });
        startRequest(event);
      },
      after: ({ event, response }) => {
        logger.info('request', { status: response?.statusCode, ...endRequest(event, { status: response?.statusCode ?? 200 }) });
      },
      onError: (request) => {
        const problem = toProblem(request.error);
        const outcome = endRequest(request.event, problem);
        if (problem.status >= 500) logger.error('request failed', { status: problem.status, code: problem.code, ...outcome, error: request.error ?? undefined });
        else logger.info('request refused', { status: problem.status, code: problem.code, detail: problem.detail, ...outcome });
        const { event, error } = request;
        request.response =
          options.errors === 'scim'
            ? scimErrorResponse(error)
            : problemResponse(problem, event.headers?.accept, {
                ...(isAppError(error) && error.reason ? { reason: error.reason } : {}),
                ...(event.requestContext?.requestId ? { requestId: event.requestContext.requestId } : {}),
                links: pageLinks(event, options.appUrl),
              });
      },
    })
    .handler(async (event) => {
      const route = routes[event.routeKey];
      if (!route) throw new AppError('not_found', `no route ${event.routeKey}`);
      return route(event);
    });
}

/** Whether the request's Accept prefers HTML over JSON (a browser's navigation). */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  const json = Math.min(...['application/json', 'application/problem+json'].map((t) => accept.indexOf(t)).filter((i) => i >= 0), Infinity);
  return html >= 0 && html < json;
}

/** Where a person can go from the error page of a request: the login it belongs to, and the app. */
function pageLinks(event: HttpEvent, appUrl: string | undefined): PageLinks {
  const login = /^\/(saml|oidc)\/([^/]+)\//.exec(event.rawPath ?? '');
  const returnTo = event.queryStringParameters?.return_to;
  const again = (path: string) => `${path}${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`;
  const startAgain = login ? again(`/${login[1]}/${login[2]}/login`) : event.rawPath === '/login' ? again('/login') : undefined;
  const app = appUrl && /^https?:\/\//.test(appUrl) ? appUrl : undefined;
  return { ...(startAgain ? { startAgain } : {}), ...(app ? { app } : {}) };
}

/**
 * The answer to a refusal: problem+json, or the error page where the request's Accept prefers
 * `text/html`. Exported for the local server's unknown paths.
 */
export function problemResponse(problem: Problem, accept: string | undefined, page: { reason?: RefusalReason; requestId?: string; links?: PageLinks } = {}): HttpResult {
  if (prefersHtml(accept)) {
    return {
      statusCode: problem.status,
      headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'" },
      body: errorPage(problem, { ...page, at: new Date(), links: page.links ?? {} }),
    };
  }
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    body: JSON.stringify(problem),
  };
}

export const SCIM_MEDIA_TYPE = 'application/scim+json';

function scimErrorResponse(error: unknown): HttpResult {
  const document = toScimError(error);
  return {
    statusCode: Number(document.status),
    headers: {
      'content-type': SCIM_MEDIA_TYPE,
      'cache-control': 'no-store',
      // RFC 6750 §3: a request without valid credentials is told which scheme to use.
      ...(document.status === '401' ? { 'www-authenticate': 'Bearer realm="scim"' } : {}),
    },
    body: JSON.stringify(document),
  };
}

/** A JSON request body, read within `maxBytes` before parsing. @throws AppError `payload_too_large`, `invalid_request`. */
export function jsonBody(event: HttpEvent, maxBytes: number): unknown {
  const text = bodyText(event, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError('invalid_request', 'the body is not valid JSON');
  }
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

export function redirect(statusCode: 302 | 303, location: string, cookies: string[] = []): HttpResult {
  return { statusCode, headers: { location, 'cache-control': 'no-store' }, cookies, body: '' };
}

/**
 * The `{connectionId}` of the path.
 *
 * @throws AppError `unknown_connection` when there is none, or when it is not of a connection id's shape.
 */
export function pathConnectionId(event: HttpEvent): string {
  const id = event.pathParameters?.connectionId;
  if (!id) throw new AppError('unknown_connection', 'the path names no connection');
  // No connection has another shape, and a long one would break DynamoDB's key limit (a 5xx for a client's typo).
  if (!RECORD_ID.test(id)) throw new AppError('unknown_connection', 'the path names no connection');
  return id;
}

/**
 * The request body as text, its size checked before anything decodes it: a base64 body by its
 * encoded length first (the largest encoding of `maxBytes` bytes), then by its decoded length; a
 * plain body by its UTF-8 length.
 *
 * @throws AppError `payload_too_large` past the limit.
 */
export function bodyText(event: HttpEvent, maxBytes: number): string {
  const raw = event.body ?? '';
  const tooLarge = () => new AppError('payload_too_large', `the body is over ${maxBytes} bytes`);
  if (event.isBase64Encoded) {
    // API Gateway's base64 carries no whitespace, so a longer text encodes more than the limit (or is not base64).
    if (raw.length > Math.ceil(maxBytes / 3) * 4) throw tooLarge();
    const bytes = Buffer.from(raw, 'base64');
    if (bytes.length > maxBytes) throw tooLarge();
    return bytes.toString('utf8');
  }
  if (raw.length > maxBytes || Buffer.byteLength(raw, 'utf8') > maxBytes) throw tooLarge();
  return raw;
}

/**
 * A urlencoded form body, decoded only once its size is known to be under the limit. A field
 * named twice is malformed input: which of two `SAMLResponse`s or `RelayState`s an
 * intermediary, a WAF or this service would pick must never be a question.
 *
 * @throws AppError `payload_too_large`; `invalid_request` for another content type or a repeated field.
 */
export function formFields(event: HttpEvent, maxBytes: number): ReadonlyMap<string, string> {
  const type = event.headers?.['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new AppError('invalid_request', 'the body must be an application/x-www-form-urlencoded form');
  }
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(bodyText(event, maxBytes))) {
    if (fields.has(name)) throw new AppError('invalid_request', `the form field ${name} is repeated`);
    fields.set(name, value);
  }
  return fields;
}

/** The value of a request cookie, if it is there and not empty. */
export function cookieValue(event: HttpEvent, name: string): string | undefined {
  const cookie = (event.cookies ?? []).find((c) => c.startsWith(`${name}=`));
  return cookie?.slice(name.length + 1) || undefined;
}

/** The session token of a request: the `Authorization: Bearer` header, else the session cookie. */
export function sessionToken(event: HttpEvent): string | undefined {
  const authorization = event.headers?.authorization;
  if (authorization?.toLowerCase().startsWith('bearer ')) return authorization.slice(7).trim();
  return cookieValue(event, SESSION_COOKIE);
}

/** The end of a successful login: 303 to the return target with the session cookie. */
export function signedInRedirect(session: { token: string; expiresAt: number; returnTo: string }, now: Date, publicBaseUrl: string): HttpResult {
  const maxAge = session.expiresAt - Math.floor(now.getTime() / 1000);
  return redirect(303, session.returnTo, [sessionCookie(session.token, maxAge, publicBaseUrl)]);
}

/** The session cookie: HttpOnly, SameSite=Lax, Path=/, and Secure unless the service runs on plain-http localhost. */
export function sessionCookie(token: string, maxAgeSeconds: number, publicBaseUrl: string): string {
  const secure = publicBaseUrl.startsWith('https://') ? '; Secure' : '';
  return `${SESSION_COOKIE}=${token}; HttpOnly${secure}; SameSite=Lax; Path=/; Max-Age=${Math.max(0, maxAgeSeconds)}`;
}

/**
 * Binds an SP-initiated login to the browser that started it. Its value is the AuthnRequest id
 * itself: it need not be secret (it also travels to the IdP in the URL), only set by this host
 * alone (it is host-only). A keyed value would add nothing, since an attacker gets a genuine one
 * by starting a login.
 */
export const SAML_REQUEST_COOKIE = 'sso_saml_request';

/**
 * A cookie the ACS must receive: scoped to the ACS path, HttpOnly. The IdP's POST to the ACS is
 * cross-site, which only SameSite=None (and so Secure) survives; the plain-http local server's
 * development IdP is same-site, where Lax reaches it.
 */
export function acsCookie(name: string, value: string, acsUrl: string, maxAgeSeconds: number, publicBaseUrl: string): string {
  const sameSite = publicBaseUrl.startsWith('https://') ? 'SameSite=None; Secure' : 'SameSite=Lax';
  return `${name}=${value}; HttpOnly; ${sameSite}; Path=${new URL(acsUrl).pathname}; Max-Age=${maxAgeSeconds}`;
}

/**
 * Holds a setup link's token between its test login's start and the ACS or OIDC callback, which
 * then returns the browser to the setup page.
 */
export const SETUP_RETURN_COOKIE = 'sso_setup_return';

/** Binds an OIDC login (or a setup link's test login) to the browser that started it: its `state`. */
export const OIDC_STATE_COOKIE = 'sso_oidc_state';

/**
 * A cookie the OIDC callback must receive: scoped to the connection's callback path, HttpOnly.
 * The provider's redirect back is a top-level GET, which SameSite=Lax lets through.
 */
export function callbackCookie(name: string, value: string, connectionId: string, maxAgeSeconds: number, publicBaseUrl: string): string {
  const secure = publicBaseUrl.startsWith('https://') ? '; Secure' : '';
  return `${name}=${value}; HttpOnly${secure}; SameSite=Lax; Path=/oidc/${encodeURIComponent(connectionId)}/callback; Max-Age=${maxAgeSeconds}`;
}
