import type { Connection, User } from './model';
import { isAppError } from './errors';
import { planProvisioning, type AssertedIdentity, type FieldChange, type MappedProfile } from './provisioning';
import { oidcIdentity } from './oidc/identity';
import { applyChanges } from './provisioning';
import type { Runtime } from './runtime';

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
export function refused(identity: AssertedIdentity, error: unknown): LoginEvaluation {
  if (!isAppError(error) || error.code === 'service_unavailable') throw error;
  return { identity, profile: { attributes: {} }, roles: [], outcome: 'refused', changes: [], refusal: { code: error.code, ...(error.detail ? { detail: error.detail } : {}) } };
}

/** Evaluates OIDC claims (an ID token's or userinfo's payload, as JSON) against an OIDC connection. */
export async function evaluateOidcClaims(runtime: Runtime, connection: Connection, claims: Readonly<Record<string, unknown>>): Promise<LoginEvaluation> {
  return evaluateIdentity(runtime, connection, oidcIdentity(claims));
}

/** A login's evaluation, with the user as it would be after the login (`id` is `(new)` for a user it would create). */
export interface LoginReport {
  readonly connectionId: string;
  readonly tenantId: string;
  readonly protocol: Connection['protocol'];
  readonly evaluation: LoginEvaluation;
  readonly resultingUser?: User;
}

/**
 * A login's evaluation as a report: with the user as it would be after the login, and refused
 * where the store's conditional writes would refuse it (an email another user holds, no seat left).
 */
export async function loginReport(runtime: Runtime, connection: Connection, evaluation: LoginEvaluation): Promise<LoginReport> {
  const now = runtime.clock();
  const blank: User = { id: '(new)', tenantId: connection.tenantId, roles: [], attributes: {}, status: 'active', createdAt: now.toISOString(), updatedAt: now.toISOString() };
  const base = evaluation.outcome === 'refused' ? undefined : (evaluation.user ?? blank);
  const resultingUser = base && applyChanges(base, evaluation.changes, now);
  const refusal = resultingUser && (await storeRefusal(runtime, evaluation, resultingUser));
  const report = { connectionId: connection.id, tenantId: connection.tenantId, protocol: connection.protocol };
  if (refusal) return { ...report, evaluation: { ...evaluation, roles: [], outcome: 'refused', changes: [], refusal } };
  return { ...report, evaluation, ...(resultingUser ? { resultingUser } : {}) };
}

/**
 * What the store's transactions would refuse: an email another user of the tenant holds
 * (`email_in_use`), a new user beyond the seat limit (`seat_limit_reached`). Read here, so the
 * evaluation tells what the login's conditional writes would.
 */
async function storeRefusal(runtime: Runtime, evaluation: LoginEvaluation, user: User): Promise<LoginEvaluation['refusal']> {
  if (user.email && user.email !== evaluation.user?.email) {
    const holder = await runtime.store.findUserByEmail(user.tenantId, user.email);
    if (holder && holder.id !== evaluation.user?.id) return { code: 'email_in_use', detail: `another user of the tenant (${holder.id}) has the email ${user.email}` };
  }
  if (evaluation.outcome === 'create') {
    const tenant = await runtime.store.getTenant(user.tenantId);
    if (tenant?.seatLimit !== undefined && tenant.seatCount >= tenant.seatLimit) return { code: 'seat_limit_reached', detail: `all ${tenant.seatLimit} seats of the tenant are taken` };
  }
  return undefined;
}
