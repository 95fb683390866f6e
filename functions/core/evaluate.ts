import type { Connection, SamlConnection, User } from './model';
import { evaluateLogin, mayLinkByEmail, type AssertedIdentity, type FieldChange, type MappedProfile } from './provisioning';
import { oidcIdentity } from './oidc/relying-party';
import type { Runtime } from './runtime';
import { samlChecks } from './saml/login';
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
  const refused = (error: unknown, profile: MappedProfile = { attributes: {} }): LoginEvaluation => {
    const { code, detail } = error as { code?: string; detail?: string };
    if (!code) throw error;
    return { identity, profile, roles: [], outcome: 'refused', changes: [], refusal: { code, ...(detail ? { detail } : {}) } };
  };
  let linked = await runtime.store.findUserByLink({ connectionId: connection.id, subject: identity.subject });
  let outcome: LoginEvaluation['outcome'] | undefined;
  try {
    if (!linked) {
      const { profile } = evaluateLogin(connection, identity, undefined);
      if (profile.email && mayLinkByEmail(connection, profile.email, identity.emailVerified)) {
        linked = await runtime.store.findUserByEmail(connection.tenantId, profile.email);
        if (linked) outcome = 'link';
      }
    }
    if (linked?.status === 'deactivated') return refused({ code: 'user_deactivated', detail: 'this account was deactivated' });
    if (!linked && connection.jit === false) return refused({ code: 'user_not_provisioned', detail: 'JIT provisioning is off for this connection' });
    const { profile, roles, changes } = evaluateLogin(connection, identity, linked);
    outcome ??= linked ? (changes.length ? 'update' : 'keep') : 'create';
    return { identity, profile, roles, outcome, ...(linked ? { user: linked } : {}), changes };
  } catch (error) {
    return refused(error);
  }
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
  return evaluateIdentity(runtime, connection, { subject: assertion.nameId, attributes: assertion.attributes, emailVerified: true });
}

/** Evaluates OIDC claims (an ID token's or userinfo's payload, as JSON) against an OIDC connection. */
export async function evaluateOidcClaims(runtime: Runtime, connection: Connection, claims: Readonly<Record<string, unknown>>): Promise<LoginEvaluation> {
  return evaluateIdentity(runtime, connection, oidcIdentity(claims));
}
