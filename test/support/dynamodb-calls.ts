import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** A fault to inject at one call: fail before the request leaves, fail after its answer came (the write happened, the caller never learns it), or run something first. */
export type Fault = { readonly at: number } & (
  | { readonly kind: 'fail-before' | 'fail-after' }
  | { readonly kind: 'run-before'; readonly run: () => Promise<void> }
);

export interface DynamoDbCalls {
  /** The commands sent since the last `reset`, by name (`GetItemCommand`, `TransactWriteItemsCommand`…). */
  readonly commands: string[];
  /** How long each of them took, in milliseconds, retries included. */
  readonly durations: number[];
  /** Forgets the commands counted so far and any pending fault. */
  reset(): void;
  /** Arms one fault, counted from the last `reset` (call 1 is the first). */
  inject(fault: Fault): void;
}

/** The error an injected fault throws: what the SDK throws for a failure it has given up retrying. */
export class InjectedFault extends Error {
  constructor(at: number) {
    super(`injected DynamoDB fault at call ${at}`);
    this.name = 'InternalServerError';
  }
}

/**
 * Counts every command a document client sends (one per logical round trip, whatever the SDK's
 * retries do underneath) and injects faults, with a middleware on the client's own stack: the
 * code under test runs unchanged on a real DynamoDB Local.
 */
export function instrumentDocumentClient(client: DynamoDBDocumentClient): DynamoDbCalls {
  const commands: string[] = [];
  const durations: number[] = [];
  let fault: Fault | undefined;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      const call = commands.length;
      const armed = fault?.at === call ? fault : undefined;
      if (armed) fault = undefined;
      if (armed?.kind === 'fail-before') throw new InjectedFault(call);
      if (armed?.kind === 'run-before') await armed.run();
      const started = performance.now();
      try {
        const result = await next(args);
        if (armed?.kind === 'fail-after') throw new InjectedFault(call);
        return result;
      } finally {
        durations[call - 1] = performance.now() - started;
      }
    },
    { step: 'initialize', name: 'countAndInjectFaults', priority: 'high' },
  );
  return {
    commands,
    durations,
    reset() {
      commands.length = 0;
      durations.length = 0;
      fault = undefined;
    },
    inject(next) {
      fault = next;
    },
  };
}
