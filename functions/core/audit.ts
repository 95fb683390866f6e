import type { AuditEvent } from './model';
import type { Runtime } from './runtime';

/**
 * Records an audit event: stored with the table's TTL and written as one structured JSON log
 * line. Events hold ids, types and refusal codes, never tokens, assertions or attribute values.
 */
export async function audit(runtime: Pick<Runtime, 'store' | 'log'>, event: AuditEvent): Promise<void> {
  runtime.log({ level: 'INFO', message: 'audit', ...event });
  await runtime.store.recordAudit(event);
}
