import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { AuditEvent } from './model';

/**
 * Where domain events go so a SaaS backend can react without polling: `user.created`,
 * `user.updated`, `user.linked`, `user.deactivated`, `user.reactivated`, `user.removed`,
 * `login.succeeded`, `login.refused`, `seat_limit.reached`, `certificate.expiring`.
 */
export interface EventPublisher {
  publish(event: AuditEvent): Promise<void>;
}

/** An EventBridge bus: source `sso`, detail-type the event's type, detail the event. */
export function createEventBridgePublisher(client: EventBridgeClient, busName: string): EventPublisher {
  return {
    async publish(event) {
      const { FailedEntryCount } = await client.send(
        new PutEventsCommand({ Entries: [{ EventBusName: busName, Source: 'sso', DetailType: event.type, Detail: JSON.stringify(event), Time: new Date(event.at) }] }),
      );
      if (FailedEntryCount) throw new Error(`EventBridge refused the ${event.type} event`);
    },
  };
}

/** Events kept in memory, for `npm start` (no bus) and for tests that read what was published. */
export function createInMemoryPublisher(): EventPublisher & { readonly published: AuditEvent[] } {
  const published: AuditEvent[] = [];
  return {
    published,
    async publish(event) {
      published.push(event);
    },
  };
}
