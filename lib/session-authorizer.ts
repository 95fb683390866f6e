import { Token } from 'aws-cdk-lib';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';

/** What {@link createSessionAuthorizer} needs to know of the SSO service. */
export interface SessionAuthorizerProps {
  /**
   * The `iss` of the session tokens: the service's public base URL (`SsoService.issuer`). API
   * Gateway reads `<issuer>/.well-known/openid-configuration` and, from it, the JWKS.
   */
  readonly issuer: string;

  /** The `aud` the tokens must carry: the service's `sessionAudience`. */
  readonly audience: string;

  /**
   * The id of the authorizer construct, created in the API of the first route it protects.
   *
   * @default 'SsoSessionAuthorizer'
   */
  readonly id?: string;
}

/**
 * An API Gateway HTTP API JWT authorizer that lets through requests whose `Authorization: Bearer`
 * header holds a session token of the SSO service: ES256-signed by a key of its JWKS, with its
 * issuer and audience, not expired. The route's integration then finds the claims in
 * `requestContext.authorizer.jwt.claims` (`sub` the user id, `tid` the tenant, `roles`, `sid`).
 *
 * It checks no revocation: a logged-out or deactivated user's token passes until it expires
 * (at most the session lifetime). Routes that must see a logout at once ask `GET /session`.
 *
 * @throws Error when the issuer is not an https URL or the audience is empty.
 */
export function createSessionAuthorizer(props: SessionAuthorizerProps): HttpJwtAuthorizer {
  if (!Token.isUnresolved(props.issuer) && !/^https:\/\/[^/?#]+(\/[^?#]*)?$/.test(props.issuer)) {
    throw new Error(`createSessionAuthorizer: issuer must be an https URL, got "${props.issuer}"`);
  }
  if (!Token.isUnresolved(props.audience) && props.audience.trim() === '') {
    throw new Error('createSessionAuthorizer: audience must not be empty');
  }
  return new HttpJwtAuthorizer(props.id ?? 'SsoSessionAuthorizer', props.issuer, {
    jwtAudience: [props.audience],
    identitySource: ['$request.header.Authorization'],
  });
}
