import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { AppError, toProblem } from '../functions/core/errors';
import { problemResponse } from '../functions/http';
import { DEFAULT_ROUTE_KEY, ROUTES, type RouteGroup } from '../functions/routes';
import { adaptRequest, adapterRefusal, requestUrl } from './api-gateway-event';
import type { DevSamlIdp } from './dev-saml-idp';

export type LambdaHandler = (event: never, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  response.statusCode = result.statusCode ?? 200;
  for (const [name, value] of Object.entries(result.headers ?? {})) response.setHeader(name, String(value));
  // The Lambda's cookies become one Set-Cookie header each, as API Gateway sends them.
  if (result.cookies?.length) response.setHeader('set-cookie', result.cookies);
  response.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
}

/**
 * The request listener of `npm start`: each request becomes the API Gateway v2 event AWS would
 * build (the `Cookie` header becomes the event's `cookies`, the Lambda's `cookies` become
 * `Set-Cookie` headers) for the Lambda of its route group; `/` is the home page and the
 * development SAML IdP answers on its SSO URL and serves its metadata.
 */
export function localRequestListener(options: {
  baseUrl: string;
  handlers: Partial<Record<RouteGroup, LambdaHandler>>;
  devSamlIdp?: DevSamlIdp;
  /** The page at `/`, given the request's Cookie header. */
  home?: (cookieHeader: string | undefined) => string;
}): RequestListener {
  const idpPath = options.devSamlIdp && new URL(options.devSamlIdp.ssoUrl).pathname;
  return async (request, response) => {
    try {
      const body = ['POST', 'PUT', 'PATCH'].includes(request.method ?? '') ? await readBody(request) : undefined;
      const url = requestUrl(request.url ?? '/', options.baseUrl);
      if (url?.pathname === '/' && options.home) {
        return send(response, { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: options.home(request.headers.cookie) });
      }
      if (url && options.devSamlIdp && url.pathname === new URL(options.devSamlIdp.metadataUrl).pathname) {
        return send(response, { statusCode: 200, headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8' }, body: options.devSamlIdp.metadata() });
      }
      if (url && options.devSamlIdp && url.pathname === idpPath) {
        const page = await options.devSamlIdp.handle(request.method ?? 'GET', url, new URLSearchParams(body ?? ''));
        return send(response, { statusCode: page.status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page.html });
      }
      // As the deployed API does, a request of no route goes to the session function's $default route.
      const adapted = adaptRequest({ method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers as Record<string, string>, ...(body === undefined ? {} : { body }) }, { defaultRoute: true });
      if (adapted.refusal) return send(response, adapted.refusal);
      const group = adapted.event.routeKey === DEFAULT_ROUTE_KEY ? 'session' : ROUTES.find((r) => `${r.method} ${r.path}` === adapted.event.routeKey)?.group;
      const handler = group && options.handlers[group];
      if (!handler) {
        const problem = toProblem(new AppError('not_found', `nothing is served at ${adapted.event.rawPath}`));
        return send(response, problemResponse(problem, request.headers.accept, { links: { app: `${options.baseUrl}/` } }));
      }
      send(response, await handler(adapted.event as never, { awsRequestId: adapted.event.requestContext.requestId } as Context));
    } catch (error) {
      console.error(error);
      if (!response.headersSent) send(response, adapterRefusal(error));
    }
  };
}
