import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
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

function matchRoute(method: string, path: string): { route: Route; pathParameters: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const names: string[] = [];
    const segments = route.path.split('/').map((segment) => {
      if (!segment.startsWith('{')) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1, -1));
      return '([^/]+)';
    });
    const pattern = new RegExp(`^${segments.join('/')}$`);
    const match = pattern.exec(path);
    if (match) return { route, pathParameters: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)])) };
  }
  return undefined;
}

/**
 * Builds the API Gateway v2 (HTTP API, payload 2.0) event that AWS would hand the Lambda for this
 * request, with the route key of the matching route, or `undefined` when no route matches (with
 * `defaultRoute`, the `$default` route's event instead, as the deployed API sends it).
 */
export function toApiGatewayEvent(request: PlainRequest, options: { defaultRoute?: boolean } = {}): APIGatewayProxyEventV2 | undefined {
  const url = new URL(request.url, 'http://localhost');
  const found = matchRoute(request.method.toUpperCase(), url.pathname);
  if (!found && !options.defaultRoute) return undefined;
  const matched = found ?? { route: undefined, pathParameters: {} };
  const key = matched.route ? routeKey(matched.route) : DEFAULT_ROUTE_KEY;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) if (value !== undefined) headers[name.toLowerCase()] = value;
  const cookies = headers.cookie?.split(';').map((c) => c.trim()).filter(Boolean);
  delete headers.cookie;
  const query = Object.fromEntries(url.searchParams);
  return {
    version: '2.0',
    routeKey: key,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(cookies?.length ? { cookies } : {}),
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    pathParameters: matched.pathParameters,
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
  };
}
