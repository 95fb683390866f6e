import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AppError, toProblem } from '../functions/core/errors';
import { DEFAULT_ROUTE_KEY, ROUTES, routeKey, type Route } from '../functions/routes';

export interface PlainRequest {
  readonly method: string;
  /** Path and query, e.g. `/saml/acme/login?return_to=...`. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  /** The body is base64, as API Gateway sends a body it takes for binary. */
  readonly isBase64Encoded?: boolean;
}

/** What the adapter makes of a request: the Lambda's event, or the answer API Gateway would give without calling a Lambda. */
export type AdaptedRequest =
  | { readonly event: APIGatewayProxyEventV2; readonly refusal?: undefined }
  | { readonly event?: undefined; readonly refusal: APIGatewayProxyStructuredResultV2 };

/** The contract's problem+json for a request that reaches no Lambda (an error that is no `AppError` is a 500). */
export function adapterRefusal(error: unknown): APIGatewayProxyStructuredResultV2 {
  const problem = toProblem(error);
  return { statusCode: problem.status, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' }, body: JSON.stringify(problem) };
}

const MALFORMED = Symbol('malformed');

/** `decodeURIComponent` without its URIError: a malformed escape is the client's error, never the server's. */
function decodeSegment(segment: string): string | typeof MALFORMED {
  try {
    return decodeURIComponent(segment);
  } catch {
    return MALFORMED;
  }
}

function matchRoute(method: string, path: string): { route: Route; pathParameters: Record<string, string> } | typeof MALFORMED | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const names: string[] = [];
    const segments = route.path.split('/').map((segment) => {
      if (!segment.startsWith('{')) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1, -1));
      return '([^/]+)';
    });
    const match = new RegExp(`^${segments.join('/')}$`).exec(path);
    if (!match) continue;
    const pathParameters: Record<string, string> = {};
    for (const [i, name] of names.entries()) {
      const value = decodeSegment(match[i + 1]!);
      if (value === MALFORMED) return MALFORMED;
      pathParameters[name] = value;
    }
    return { route, pathParameters };
  }
  return undefined;
}

/** The URL of a request target (origin-form or absolute-form), or `undefined` when it is none. */
export function requestUrl(target: string, base = 'http://localhost'): URL | undefined {
  try {
    return new URL(target, base);
  } catch {
    return undefined;
  }
}

/**
 * Builds the API Gateway v2 (HTTP API, payload 2.0) event that AWS would hand the Lambda for this
 * request, with the route key of the matching route; a request that matches no route is
 * `not_found` (with `defaultRoute`, the `$default` route's event instead, as the deployed API
 * sends it), and one whose target is no URL or whose path parameter has a malformed
 * percent-escape is `invalid_request`, both answered in the contract's problem+json.
 */
export function adaptRequest(request: PlainRequest, options: { defaultRoute?: boolean } = {}): AdaptedRequest {
  const url = requestUrl(request.url);
  if (!url) return { refusal: adapterRefusal(new AppError('invalid_request', 'the request target is not a URL')) };
  const matched = matchRoute(request.method.toUpperCase(), url.pathname);
  if (matched === MALFORMED) return { refusal: adapterRefusal(new AppError('invalid_request', 'the path has a malformed percent-escape')) };
  if (!matched && !options.defaultRoute) return { refusal: adapterRefusal(new AppError('not_found', `no route ${request.method.toUpperCase()} ${url.pathname}`)) };
  const key = matched ? routeKey(matched.route) : DEFAULT_ROUTE_KEY;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) if (value !== undefined) headers[name.toLowerCase()] = value;
  const cookies = headers.cookie?.split(';').map((c) => c.trim()).filter(Boolean);
  delete headers.cookie;
  const query = Object.fromEntries(url.searchParams);
  return {
    event: {
      version: '2.0',
      routeKey: key,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      ...(cookies?.length ? { cookies } : {}),
      ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
      pathParameters: matched ? matched.pathParameters : {},
      requestContext: {
        accountId: 'local',
        apiId: 'local',
        domainName: url.host,
        domainPrefix: 'local',
        http: { method: request.method.toUpperCase(), path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
        requestId: randomUUID(),
        routeKey: key,
        stage: '$default',
        time: new Date().toISOString(),
        timeEpoch: Date.now(),
      },
      ...(request.body !== undefined ? { body: request.body } : {}),
      isBase64Encoded: request.isBase64Encoded ?? false,
    },
  };
}
