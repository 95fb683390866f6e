import type { Connection, SamlConnection, User } from './model';
import { isAppError } from './errors';
import { planProvisioning, type AssertedIdentity, type FieldChange, type MappedProfile } from './provisioning';
import { oidcIdentity } from './oidc/relying-party';
import type { Runtime } from './runtime';
import { samlChecks } from './saml/login';
import { samlIdentity } from './saml/subject';
import { verifySamlResponse } from './saml/verify-response';

/** What a login would do, computed without writing anything. */
export interface LoginEvaluation {
  readonly identity: AssertedIdentity;
  readonly profile: MappedProfile;
  readonly roles: readonly string[];
  /** `create` a user, `link` the identity to the user of its email, `update` or `keep` the linked user, or be `refused`. */
  readonly outcome: 'create' | 'link' | 'update' | 'keep' | 'refused';
  readonly user?: User;
  readonly changes: readonly FieldChange[];
  /** Why the login would be refused (a contract error code and its detail), when it would. */
  readonly refusal?: { readonly code: string; readonly detail?: string };
}

/**
 * Evaluates an asserted identity against a connection's policy and the users as stored: the
 * user, attributes and roles the login would produce and what it would change. Writes nothing.
 */
export async function evaluateIdentity(runtime: Runtime, connection: Connection, identity: AssertedIdentity): Promise<LoginEvaluation> {
  try {
    const plan = await planProvisioning(runtime.store, connection, identity, runtime.clock());
    const outcome = plan.kind === 'create' ? 'create' : plan.kind === 'link' ? 'link' : plan.changes.length ? 'update' : 'keep';
    return { identity, profile: plan.profile, roles: plan.roles, outcome, ...(plan.kind === 'create' ? {} : { user: plan.user }), changes: plan.changes };
  } catch (error) {
    return refused(identity, error);
  }
}

/** The evaluation of a login refused with `error`; an outage is no answer and is thrown on. */
function refused(identity: AssertedIdentity, error: unknown): LoginEvaluation {
  if (!isAppError(error) || error.code === 'service_unavailable') throw error;
  return { identity, profile: { attributes: {} }, roles: [], outcome: 'refused', changes: [], refusal: { code: error.code, ...(error.detail ? { detail: error.detail } : {}) } };
}

/**
 * Evaluates a SAML response as the ACS would read it: verified completely (signature, audience,
 * recipient…) at `at`, by default the response's own IssueInstant so an old capture still reads,
 * but without consuming its AuthnRequest or recording it in the replay cache.
 *
 * @throws AppError of `verifySamlResponse`'s codes when the response itself does not verify.
 */
export async function evaluateSamlResponse(runtime: Runtime, connection: SamlConnection, samlResponse: string, at?: Date): Promise<LoginEvaluation> {
  const issueInstant = /IssueInstant="([^"]+)"/.exec(Buffer.from(samlResponse.replace(/\s+/g, ''), 'base64').toString('utf8'))?.[1];
  const when = at ?? (issueInstant ? new Date(issueInstant) : runtime.clock());
  const assertion = await verifySamlResponse(samlResponse, await samlChecks(runtime, connection, when));
  let identity: AssertedIdentity;
  try {
    identity = samlIdentity(connection, assertion);
  } catch (error) {
    return refused({ subject: assertion.nameId, attributes: assertion.attributes, emailVerified: true }, error);
  }
  return evaluateIdentity(runtime, connection, identity);
}

/** Evaluates OIDC claims (an ID token's or userinfo's payload, as JSON) against an OIDC connection. */
export async function evaluateOidcClaims(runtime: Runtime, connection: Connection, claims: Readonly<Record<string, unknown>>): Promise<LoginEvaluation> {
  return evaluateIdentity(runtime, connection, oidcIdentity(claims));
}
