import type { AuditEvent } from './model';
import type { Runtime } from './runtime';

/**
 * Records an audit event: stored with the table's TTL, written as one structured JSON log line,
 * and published as a domain event. Events hold ids, types, refusal codes and changed fields,
 * never tokens or assertions. A failed publication is logged, never fails the login it reports.
 */
export async function audit(runtime: Pick<Runtime, 'store' | 'log' | 'events'>, event: AuditEvent): Promise<void> {
  runtime.log({ level: 'INFO', message: 'audit', ...event });
  await runtime.store.recordAudit(event);
  await announce(runtime, event);
}

/**
 * Logs and publishes an audit event stored already, with the change it records (a login's events
 * are written in the login's own transaction).
 */
export async function announceStored(runtime: Pick<Runtime, 'log' | 'events'>, event: AuditEvent): Promise<void> {
  runtime.log({ level: 'INFO', message: 'audit', ...event });
  await announce(runtime, event);
}

async function announce(runtime: Pick<Runtime, 'log' | 'events'>, event: AuditEvent): Promise<void> {
  await runtime.events.publish(event).catch((error: unknown) => {
    runtime.log({ level: 'ERROR', message: 'event not published', type: event.type, error: error instanceof Error ? error.message : String(error) });
  });
}
