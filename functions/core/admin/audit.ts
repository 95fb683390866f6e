import { AppError } from '../errors';
import type { AuditEvent } from '../model';
import type { Store } from '../store/store';
import { requireTenant } from './tenants';

/** How far back the audit trail goes: its items expire after 90 days. */
const RETENTION_DAYS = 90;

/** Which of a tenant's audit events to list. */
export interface AuditQuery {
  readonly tenantId: string;
  /** @default 7 days before `now` */
  readonly since?: Date;
  readonly type?: string;
  readonly userId?: string;
  readonly now: Date;
}

/**
 * `--since` as the admin may type it: an ISO date or instant, or an age like `30m`, `12h`, `7d`.
 *
 * @throws AppError `invalid_request` for anything else.
 */
export function parseSince(value: string, now: Date): Date {
  const age = /^(\d+)([mhd])$/.exec(value);
  if (age) return new Date(now.getTime() - Number(age[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 'm' | 'h' | 'd']);
  const instant = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(instant.getTime())) throw new AppError('invalid_request', `--since must be an ISO date or instant, or an age like 30m, 12h or 7d (got "${value}")`);
  return instant;
}

/**
 * A tenant's audit events, oldest first, filtered by type and user; at most the 90 days the
 * table keeps them.
 *
 * @throws AppError `not_found` for an unknown tenant.
 */
export async function listAuditEvents(store: Store, query: AuditQuery): Promise<AuditEvent[]> {
  await requireTenant(store, query.tenantId);
  const oldest = new Date(query.now.getTime() - RETENTION_DAYS * 86_400_000);
  const requested = query.since ?? new Date(query.now.getTime() - 7 * 86_400_000);
  const since = requested < oldest ? oldest : requested;
  const events = await store.listAudit(query.tenantId, since, query.now);
  return events.filter((e) => (query.type === undefined || e.type === query.type) && (query.userId === undefined || e.userId === query.userId));
}

/** One audit event as a line for a person: time, type, code, connection, user, details. */
export function describeAuditEvent(event: AuditEvent): string {
  const parts = [event.at, event.type, event.code, event.connectionId && `connection=${event.connectionId}`, event.userId && `user=${event.userId}`];
  if (event.detail && Object.keys(event.detail).length) parts.push(JSON.stringify(event.detail));
  return parts.filter(Boolean).join('  ');
}
