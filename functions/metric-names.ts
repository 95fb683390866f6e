/**
 * The names of the service's CloudWatch metrics (EMF, written by `functions/observability.ts`),
 * shared with the construct that alarms on them and draws them, so the two cannot disagree.
 */

/** The namespace of the service's metrics unless the construct names another. */
export const DEFAULT_METRICS_NAMESPACE = 'SsoService';

/** The value of the `service` dimension every metric carries (`POWERTOOLS_SERVICE_NAME`). */
export const METRICS_SERVICE = 'sso';

export const METRIC = {
  /** A login (ACS or OIDC callback) that ended with a session. Dimensions: service. */
  loginSucceeded: 'LoginSucceeded',
  /** A login refused, in total (service) and by its error code (service, code). */
  loginRefused: 'LoginRefused',
  /** A user created by just-in-time provisioning or the admin CLI. Dimensions: service. */
  usersCreated: 'UsersCreated',
  /** A first login refused because the tenant had no seat left. Dimensions: service. */
  seatLimitRefusals: 'SeatLimitRefusals',
  /** A SCIM operation, by operation and outcome (service, operation, outcome). */
  scimOperations: 'ScimOperations',
  /** Time in the handler, by route key (service, route), in milliseconds. */
  routeLatency: 'RouteLatency',
  /** An IdP signing certificate within 30 days of expiry, found by the metadata refresh. Dimensions: service. */
  certificatesExpiring: 'CertificatesExpiring',
  /** A request API Gateway throttled (429), counted from the access log by a metric filter. */
  apiThrottled: 'ApiThrottled',
} as const;

/** The refusal codes that, in a spike, look like an attack rather than a misconfiguration: forged, replayed or stolen responses. */
export const ATTACK_REFUSAL_CODES = [
  'saml_invalid_signature',
  'saml_replay',
  'saml_audience_mismatch',
  'saml_recipient_mismatch',
  'saml_issuer_mismatch',
  'saml_unsolicited',
  'saml_in_response_to_mismatch',
  'oidc_invalid_id_token',
  'oidc_nonce_mismatch',
  'oidc_state_mismatch',
] as const;
