import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  type CancellationReason,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import { TABLE_KEYS } from '../table';

/**
 * What every aggregate module of the store shares: the table, its client, and the helpers that
 * read, write and transact on it, turning any DynamoDB failure that is not a refusal into
 * `service_unavailable`.
 */
export interface TableAccess {
  readonly TableName: string;
  readonly client: DynamoDBDocumentClient;
  get<T>(Key: Record<string, string>): Promise<T | undefined>;
  /** Several items in one round trip (strongly consistent), in the order of their keys. */
  getAll(keys: readonly Record<string, string>[]): Promise<(Record<string, unknown> | undefined)[]>;
  put(Item: Record<string, unknown>): Promise<void>;
  /** Deletes an item; with a condition, a failed condition is `false` rather than an error. */
  remove(Key: Record<string, string>, condition?: { ConditionExpression: string; ExpressionAttributeValues?: Record<string, unknown> }): Promise<boolean>;
  /**
   * Runs one transaction: `undefined` when it committed, else the cancellation reasons. Each
   * attempt carries its own client token, so the SDK's retry of an attempt whose answer was lost
   * cannot apply it twice (nor fail on its own first write's conditions). With
   * `retryConflicts`, a transaction cancelled only because a concurrent one held an item (no
   * condition failed) is run again, up to that many times, after a growing random pause.
   */
  transact(input: TransactWriteCommandInput, options?: { retryConflicts?: number }): Promise<CancellationReason[] | undefined>;
  /** Every record a query matches, page after page, or at most `limit` of them. */
  query<T>(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>, options?: { limit?: number }): Promise<T[]>;
  /** Every record of one partition of the by-tenant index, or at most `limit` of them. */
  queryByTenantIndex<T>(partition: string, options?: { limit?: number }): Promise<T[]>;
}

/** Epoch seconds, as TTL attributes hold them. */
export const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** Rethrows an `AppError`; any other failure is `service_unavailable`, with its cause. */
export function unavailable(error: unknown): never {
  if (error instanceof AppError) throw error;
  throw new AppError('service_unavailable', 'the database could not be reached', { cause: error });
}

/** Whether the transaction item at `index` failed its condition. */
export function failedAt(reasons: CancellationReason[] | undefined, index: number): boolean {
  return index >= 0 && reasons?.[index]?.Code === 'ConditionalCheckFailed';
}

/** Whether a transaction was cancelled by a concurrent one (worth retrying). */
export function conflicted(reasons: CancellationReason[] | undefined): boolean {
  return reasons?.some((reason) => reason.Code === 'TransactionConflict') ?? false;
}

/** Strips the key attributes of an item, giving back the record it stores. */
export function record<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _gsi1pk, gsi1sk: _gsi1sk, ...rest } = item;
  return rest as T;
}

export { ConditionalCheckFailedException };

/** A growing random pause before running again a transaction a concurrent one cancelled. */
export function conflictPause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * 2 ** Math.min(attempt, 5)));
}

/** The shared helpers on one table and client. */
export function tableAccess(TableName: string, client: DynamoDBDocumentClient): TableAccess {
  async function query<T>(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>, options: { limit?: number } = {}): Promise<T[]> {
    const items: T[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await client.send(
          new QueryCommand({ ...input, TableName, ExclusiveStartKey, ...(options.limit === undefined ? {} : { Limit: options.limit - items.length }) }),
        );
        items.push(...(page.Items ?? []).map((item) => record<T>(item)!));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey && (options.limit === undefined || items.length < options.limit));
    } catch (error) {
      unavailable(error);
    }
    return items;
  }

  return {
    TableName,
    client,
    async get<T>(Key: Record<string, string>): Promise<T | undefined> {
      try {
        const { Item } = await client.send(new GetCommand({ TableName, Key, ConsistentRead: true }));
        return record<T>(Item);
      } catch (error) {
        return unavailable(error);
      }
    },
    async getAll(keys) {
      const found = new Map<string, Record<string, unknown>>();
      const id = (item: Record<string, unknown>) => `${String(item.pk)}\u0000${String(item.sk)}`;
      let pending: Record<string, unknown>[] | undefined = [...keys];
      try {
        // BatchGetItem may leave keys unprocessed under load: those are asked for again.
        for (let attempt = 0; pending?.length; attempt++) {
          if (attempt > 0) await conflictPause(attempt);
          const { Responses, UnprocessedKeys }: BatchGetCommandOutput = await client.send(new BatchGetCommand({ RequestItems: { [TableName]: { Keys: pending, ConsistentRead: true } } }));
          for (const item of Responses?.[TableName] ?? []) found.set(id(item), item);
          pending = UnprocessedKeys?.[TableName]?.Keys;
          if (pending?.length && attempt >= 5) throw new Error('DynamoDB left keys of a batch read unprocessed');
        }
      } catch (error) {
        return unavailable(error);
      }
      return keys.map((key) => record<Record<string, unknown>>(found.get(id(key))));
    },
    async put(Item) {
      try {
        await client.send(new PutCommand({ TableName, Item }));
      } catch (error) {
        unavailable(error);
      }
    },
    async remove(Key, condition) {
      try {
        await client.send(new DeleteCommand({ TableName, Key, ...condition }));
        return true;
      } catch (error) {
        if (condition && error instanceof ConditionalCheckFailedException) return false;
        return unavailable(error);
      }
    },
    async transact(input, options = {}) {
      for (let attempt = 0; ; attempt++) {
        let reasons: CancellationReason[];
        try {
          await client.send(new TransactWriteCommand({ ClientRequestToken: randomUUID(), ...input }));
          return undefined;
        } catch (error) {
          if (!(error instanceof TransactionCanceledException)) return unavailable(error);
          reasons = error.CancellationReasons ?? [];
        }
        const onlyConflict = conflicted(reasons) && !reasons.some((reason) => reason.Code === 'ConditionalCheckFailed');
        if (!onlyConflict || attempt >= (options.retryConflicts ?? 0)) return reasons;
        await conflictPause(attempt);
      }
    },
    query,
    queryByTenantIndex: <T>(partition: string, options: { limit?: number } = {}) =>
      query<T>(
        {
          IndexName: TABLE_KEYS.byTenantIndex,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': TABLE_KEYS.byTenantPartitionKey },
          ExpressionAttributeValues: { ':pk': partition },
        },
        options,
      ),
  };
}
