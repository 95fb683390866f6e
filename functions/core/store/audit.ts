import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../model';
import { key } from './keys';
import { epochSeconds, type TableAccess } from './table';

export interface AuditStore {
  recordAudit(event: AuditEvent): Promise<void>;
}

export function auditStore(table: TableAccess, auditRetentionSeconds: number): AuditStore {
  return {
    recordAudit: (event) =>
      table.put({
        ...key.audit(event.tenantId, event.at.slice(0, 10)),
        sk: `${event.at}#${randomUUID()}`,
        ...event,
        expiresAt: epochSeconds(new Date(event.at)) + auditRetentionSeconds,
      }),
  };
}
