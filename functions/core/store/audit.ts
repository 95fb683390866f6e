import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../model';
import { key } from './keys';
import { epochSeconds, type TableAccess } from './table';

export interface AuditStore {
  recordAudit(event: AuditEvent): Promise<void>;
  /** A tenant's audit events from `since` to `until`, oldest first (days past the TTL are gone). */
  listAudit(tenantId: string, since: Date, until: Date): Promise<AuditEvent[]>;
}

/** An audit event's item: one partition per tenant and day, kept `retentionSeconds`. */
export function auditItem(event: AuditEvent, retentionSeconds: number): Record<string, unknown> {
  return {
    ...key.audit(event.tenantId, event.at.slice(0, 10)),
    sk: `${event.at}#${randomUUID()}`,
    ...event,
    expiresAt: epochSeconds(new Date(event.at)) + retentionSeconds,
  };
}

export function auditStore(table: TableAccess, auditRetentionSeconds: number): AuditStore {
  return {
    recordAudit: (event) => table.put(auditItem(event, auditRetentionSeconds)),

    async listAudit(tenantId, since, until) {
      const events: AuditEvent[] = [];
      const lastDay = until.toISOString().slice(0, 10);
      for (let day = new Date(since); day.toISOString().slice(0, 10) <= lastDay; day = new Date(day.getTime() + 86_400_000)) {
        const items = await table.query<AuditEvent & { expiresAt: number }>({
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': key.audit(tenantId, day.toISOString().slice(0, 10)).pk, ':from': since.toISOString(), ':to': `${until.toISOString()}#~` },
        });
        for (const { expiresAt: _expiresAt, ...event } of items) events.push(event);
      }
      return events;
    },
  };
}
