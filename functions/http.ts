import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { AppError, toProblem, type Problem } from './core/errors';
import { SESSION_COOKIE } from './core/sessions';
import { endRequest, startRequest } from './observability';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type RouteHandler = (event: HttpEvent) => Promise<HttpResult>;

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sso' });

/**
 * The one house middleware around every handler: dispatch on the route key, a request id on
 * every log line, one structured line per request, and the one error funnel that turns any
 * error into the contract's problem+json (or an HTML page for a browser).
 */
export function httpHandler(routes: Readonly<Record<string, RouteHandler>>) {
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
        request.response = problemResponse(problem, request.event.headers?.accept);
      },
    })
    .handler(async (event) => {
      const route = routes[event.routeKey];
      if (!route) throw new AppError('not_found', `no route ${event.routeKey}`);
      return route(event);
    });
}

function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  const json = Math.min(...['application/json', 'application/problem+json'].map((t) => accept.indexOf(t)).filter((i) => i >= 0), Infinity);
  return html >= 0 && html < json;
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function problemResponse(problem: Problem, accept: string | undefined): HttpResult {
  if (prefersHtml(accept)) {
    return {
      statusCode: problem.status,
      headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(problem.title)}</title></head><body><main><h1>${escapeHtml(problem.title)}</h1>${problem.detail ? `<p>${escapeHtml(problem.detail)}</p>` : ''}<p>If this keeps happening, tell your administrator this code: <code>${escapeHtml(problem.code)}</code></p></main></body></html>`,
    };
  }
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    body: JSON.stringify(problem),
  };
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

export function redirect(statusCode: 302 | 303, location: string, cookies: string[] = []): HttpResult {
  return { statusCode, headers: { location, 'cache-control': 'no-store' }, cookies, body: '' };
}

/** The `{connectionId}` of the path. @throws AppError `unknown_connection` when there is none. */
export function pathConnectionId(event: HttpEvent): string {
  const id = event.pathParameters?.connectionId;
  if (!id) throw new AppError('unknown_connection', 'the path names no connection');
  return id;
}

/** The request body as text. @throws AppError `payload_too_large` past the limit. */
export function bodyText(event: HttpEvent, maxBytes: number): string {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxBytes) throw new AppError('payload_too_large', `the body is over ${maxBytes} bytes`);
  return bytes.toString('utf8');
}

/** A urlencoded form body. @throws AppError `payload_too_large`, `invalid_request`. */
export function formFields(event: HttpEvent, maxBytes: number): URLSearchParams {
  const type = event.headers?.['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new AppError('invalid_request', 'the body must be an application/x-www-form-urlencoded form');
  }
  return new URLSearchParams(bodyText(event, maxBytes));
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
