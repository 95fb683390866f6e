/**
 * The HTTP routes of the service and the Lambda (route group) that serves each. The CDK stack
 * builds the HTTP API from this table, and the local server routes with it, so the two agree.
 */

export type RouteGroup = 'saml' | 'oidc' | 'session' | 'scim' | 'setup';

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API Gateway v2 path, with `{name}` parameters. */
  readonly path: string;
  readonly group: RouteGroup;
  /**
   * Which per-route throttle of the stage the route gets, on top of the stage-wide limit.
   * @default - see {@link routeThrottle}: `signIn` for login, ACS, callback, setup test login and `/scim/` routes
   */
  readonly throttle?: RouteThrottle;
}

/**
 * `signIn`: the routes a login storm or a credential-stuffing run hits (each costs a signature
 * check, a session signature and several DynamoDB writes), the test logins of setup links (each
 * starts a login at the IdP), and SCIM; `none`: only the stage limit.
 */
export type RouteThrottle = 'signIn' | 'none';

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/health', group: 'session' },
  { method: 'GET', path: '/.well-known/jwks.json', group: 'session' },
  { method: 'GET', path: '/.well-known/openid-configuration', group: 'session' },
  { method: 'GET', path: '/session', group: 'session' },
  { method: 'POST', path: '/session/logout', group: 'session' },
  { method: 'GET', path: '/login', group: 'session' },
  { method: 'GET', path: '/saml/{connectionId}/metadata', group: 'saml' },
  { method: 'GET', path: '/saml/{connectionId}/login', group: 'saml' },
  { method: 'POST', path: '/saml/{connectionId}/acs', group: 'saml' },
  { method: 'GET', path: '/oidc/{connectionId}/login', group: 'oidc' },
  { method: 'GET', path: '/oidc/{connectionId}/callback', group: 'oidc' },
  ...(['Users', 'Groups'] as const).flatMap((resource): Route[] => [
    { method: 'GET', path: `/scim/v2/${resource}`, group: 'scim' },
    { method: 'POST', path: `/scim/v2/${resource}`, group: 'scim' },
    ...(['GET', 'PUT', 'PATCH', 'DELETE'] as const).map((method) => ({ method, path: `/scim/v2/${resource}/{id}`, group: 'scim' as const })),
  ]),
  { method: 'GET', path: '/scim/v2/ServiceProviderConfig', group: 'scim' },
  { method: 'GET', path: '/scim/v2/Schemas', group: 'scim' },
  { method: 'GET', path: '/scim/v2/Schemas/{id}', group: 'scim' },
  { method: 'GET', path: '/scim/v2/ResourceTypes', group: 'scim' },
  { method: 'GET', path: '/scim/v2/ResourceTypes/{id}', group: 'scim' },
  { method: 'GET', path: '/setup/{token}', group: 'setup' },
  { method: 'GET', path: '/setup/{token}/saml', group: 'setup' },
  { method: 'POST', path: '/setup/{token}/saml', group: 'setup' },
  { method: 'GET', path: '/setup/{token}/saml/metadata', group: 'setup' },
  { method: 'GET', path: '/setup/{token}/saml/test', group: 'setup' },
  { method: 'POST', path: '/setup/{token}/saml/activate', group: 'setup' },
  { method: 'GET', path: '/setup/{token}/oidc', group: 'setup' },
  { method: 'POST', path: '/setup/{token}/oidc', group: 'setup' },
  { method: 'GET', path: '/setup/{token}/oidc/test', group: 'setup' },
  { method: 'POST', path: '/setup/{token}/oidc/activate', group: 'setup' },
  { method: 'GET', path: '/setup/{token}/scim', group: 'setup' },
  { method: 'POST', path: '/setup/{token}/scim/token', group: 'setup' },
];

/** The Lambda entry file of each route group, relative to the repository root. */
export const GROUP_ENTRIES: Readonly<Record<RouteGroup, string>> = {
  saml: 'functions/saml.ts',
  oidc: 'functions/oidc.ts',
  session: 'functions/session.ts',
  scim: 'functions/scim.ts',
  setup: 'functions/setup.ts',
};

/** The `routeKey` API Gateway v2 gives a route: `"GET /saml/{connectionId}/login"`. */
export function routeKey(route: Route): string {
  return `${route.method} ${route.path}`;
}

/** The route key API Gateway gives a request no other route matches; its group answers `not_found`. */
export const DEFAULT_ROUTE_KEY = '$default';

/** The group whose function serves the `$default` route: its handler answers `not_found` for any route key it lacks. */
export const DEFAULT_ROUTE_GROUP: RouteGroup = 'session';

const SIGN_IN_PATH = /\/(login|acs|callback)$|^\/setup\/\{token\}\/(saml|oidc)\/test$|^\/scim\//;

/**
 * The per-route throttle of a route: its own `throttle` if set, else `signIn` for the paths that
 * start or complete a login (a setup link's test login included) and for every `/scim/` route
 * (so routes added later get it by path).
 */
export function routeThrottle(route: Route): RouteThrottle {
  return route.throttle ?? (SIGN_IN_PATH.test(route.path) ? 'signIn' : 'none');
}
