/**
 * The one error type of the domain, and the one table from its stable codes to what a caller sees.
 *
 * Every refusal the contract names is an `AppError` with a stable `code`; tests assert the code,
 * never the message. Programmer and configuration errors are not `AppError`s: the error funnel
 * answers them with a 500 and logs their cause.
 */

interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** Whether `detail` may be shown to the caller (it never holds secrets, but some details help an attacker). */
  readonly showDetail: boolean;
  /** RFC 7644 §3.12's `scimType`, where the RFC defines one for this refusal. */
  readonly scimType?: ScimType;
}

type ScimType = 'uniqueness' | 'invalidFilter' | 'invalidSyntax' | 'invalidValue' | 'mutability' | 'noTarget' | 'tooMany';

const ERRORS = {
  invalid_request: { status: 400, title: 'The request is malformed', showDetail: true, scimType: 'invalidSyntax' },
  invalid_filter: { status: 400, title: 'The filter is not valid', showDetail: true, scimType: 'invalidFilter' },
  invalid_value: { status: 400, title: 'A value is missing, of the wrong type, or not allowed', showDetail: true, scimType: 'invalidValue' },
  mutability: { status: 400, title: 'This attribute cannot be changed', showDetail: true, scimType: 'mutability' },
  no_target: { status: 400, title: 'The path matches nothing to change', showDetail: true, scimType: 'noTarget' },
  too_many: { status: 400, title: 'The query would return too many results', showDetail: true, scimType: 'tooMany' },
  precondition_failed: { status: 412, title: 'The resource changed since the version the request names', showDetail: true },
  write_conflict: { status: 409, title: 'The resource changed while this request was changing it', showDetail: true },
  user_name_in_use: { status: 409, title: 'Another account already has this userName', showDetail: true, scimType: 'uniqueness' },
  external_id_in_use: { status: 409, title: 'Another account already has this externalId', showDetail: true, scimType: 'uniqueness' },
  payload_too_large: { status: 413, title: 'The request body is too large', showDetail: true },
  not_found: { status: 404, title: 'There is nothing at this address', showDetail: true },
  unknown_connection: { status: 404, title: 'This sign-in connection does not exist or is disabled', showDetail: true },
  saml_invalid_signature: { status: 401, title: 'The SAML response is not validly signed by the identity provider', showDetail: true },
  saml_expired: { status: 401, title: 'The SAML response has expired', showDetail: true },
  saml_not_yet_valid: { status: 401, title: 'The SAML response is not valid yet', showDetail: true },
  saml_audience_mismatch: { status: 401, title: 'The SAML assertion is meant for another service provider', showDetail: true },
  saml_recipient_mismatch: { status: 401, title: 'The SAML response was sent to another address', showDetail: true },
  saml_issuer_mismatch: { status: 401, title: 'The SAML response comes from an unexpected identity provider', showDetail: true },
  saml_unsolicited: { status: 401, title: 'Sign-in must start at this application', showDetail: true },
  saml_in_response_to_mismatch: { status: 401, title: 'The SAML response does not answer a sign-in started here', showDetail: true },
  saml_replay: { status: 401, title: 'This SAML assertion has been used already', showDetail: true },
  saml_status_not_success: { status: 401, title: 'The identity provider refused the sign-in', showDetail: true },
  oidc_state_mismatch: { status: 400, title: 'This sign-in link is unknown, expired or used already', showDetail: true },
  oidc_invalid_id_token: { status: 401, title: 'The identity provider sent an invalid ID token', showDetail: true },
  oidc_nonce_mismatch: { status: 401, title: 'The ID token does not belong to this sign-in', showDetail: true },
  oidc_idp_error: { status: 401, title: 'The identity provider refused the sign-in', showDetail: true },
  saml_transient_subject: { status: 422, title: 'The identity provider sent no lasting identifier for this person', showDetail: true },
  missing_required_attribute: { status: 422, title: 'The identity provider did not send a required attribute', showDetail: true },
  email_not_verified: { status: 403, title: 'The email address is not verified', showDetail: true },
  domain_not_allowed: { status: 403, title: 'This email domain may not sign in here', showDetail: true },
  email_in_use: { status: 409, title: 'Another account already uses this email address', showDetail: true, scimType: 'uniqueness' },
  seat_limit_reached: { status: 403, title: 'Your organization has no seats left', showDetail: true },
  user_not_provisioned: { status: 403, title: 'Your account has not been set up for this application', showDetail: true },
  user_deactivated: { status: 403, title: 'This account has been deactivated', showDetail: true },
  forbidden_return_to: { status: 400, title: 'The return address is not allowed', showDetail: true },
  unknown_domain: { status: 404, title: 'No organization signs in here with this email domain', showDetail: true },
  domain_in_use: { status: 409, title: 'This email domain belongs to another organization', showDetail: true },
  setup_link_unknown: { status: 404, title: 'This setup link does not exist', showDetail: true },
  setup_link_expired: { status: 410, title: 'This setup link has expired', showDetail: true },
  setup_link_revoked: { status: 410, title: 'This setup link has been revoked', showDetail: true },
  setup_link_forbidden: { status: 403, title: 'This setup link cannot change that', showDetail: true },
  setup_not_tested: { status: 409, title: 'The connection must pass a test login before it is activated', showDetail: true },
  csrf_mismatch: { status: 403, title: 'The form is not from this setup page; reload it and try again', showDetail: true },
  unauthenticated: { status: 401, title: 'You are not signed in', showDetail: false },
  session_revoked: { status: 401, title: 'This session has ended', showDetail: false },
  service_unavailable: { status: 503, title: 'A service this depends on is unavailable; try again', showDetail: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * A finer reason than the code, for the person reading the HTML page only (the wire keeps the
 * code): `cancelled` when the IdP says the user cancelled the sign-in there.
 */
export type RefusalReason = 'cancelled';

/** A refusal with a stable code from the contract's table. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly reason: RefusalReason | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; reason?: RefusalReason }) {
    super(detail ? `${code}: ${detail}` : code, options);
    this.name = 'AppError';
    this.code = code;
    this.detail = detail;
    this.reason = options?.reason;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

/** The RFC 9457 problem document of an error: an `AppError` as its table says, anything else as a bare 500. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly detail?: string;
}

export function toProblem(error: unknown): Problem {
  if (error instanceof AppError) {
    const spec: ErrorSpec = ERRORS[error.code];
    return {
      type: `urn:sso:error:${error.code}`,
      title: spec.title,
      status: spec.status,
      code: error.code,
      ...(spec.showDetail && error.detail ? { detail: error.detail } : {}),
    };
  }
  return {
    type: 'urn:sso:error:internal_error',
    title: 'Something went wrong on our side',
    status: 500,
    code: 'internal_error',
  };
}

/** RFC 7644 §3.12's error document, derived from the same table as the problem+json. */
export interface ScimErrorDocument {
  readonly schemas: readonly ['urn:ietf:params:scim:api:messages:2.0:Error'];
  /** The HTTP status, as a string (RFC 7644 §3.12). */
  readonly status: string;
  readonly scimType?: ScimType;
  readonly detail: string;
  /** The service's stable code, as in the problem+json. */
  readonly code: string;
}

/** The SCIM error document of an error: an `AppError` as its table says (with its `scimType`), anything else as a bare 500. */
export function toScimError(error: unknown): ScimErrorDocument {
  const problem = toProblem(error);
  const scimType = error instanceof AppError ? (ERRORS[error.code] as ErrorSpec).scimType : undefined;
  return {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
    status: String(problem.status),
    ...(scimType ? { scimType } : {}),
    detail: problem.detail ?? problem.title,
    code: problem.code,
  };
}

/** Whether an error is the given refusal; for tests and for code that recovers from one refusal only. */
export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
