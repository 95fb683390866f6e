import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { Environment } from '../config';

/**
 * The service environment of a deployed stack, from its CloudFormation outputs: `TableName`,
 * `ApiUrl` (or `PublicBaseUrl` where the stack has one), `SigningKeyArn`, and where present
 * `SecretsPrefix` and `EventBusName`. Credentials and region are the AWS SDK's usual ones.
 *
 * @throws Error naming the stack, or the output it lacks.
 */
export async function stackEnvironment(stackName: string, client: CloudFormationClient = new CloudFormationClient({})): Promise<Environment> {
  let outputs: Map<string, string>;
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = new Map((Stacks?.[0]?.Outputs ?? []).flatMap((o) => (o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue] as const] : [])));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`stack ${stackName} could not be described: ${reason}`, { cause: error });
  } finally {
    client.destroy();
  }
  const output = (key: string): string => {
    const value = outputs.get(key);
    if (!value) throw new Error(`stack ${stackName} has no ${key} output; is it this service's stack?`);
    return value;
  };
  const publicBaseUrl = outputs.get('PublicBaseUrl') ?? output('ApiUrl');
  return {
    TABLE_NAME: output('TableName'),
    PUBLIC_BASE_URL: publicBaseUrl,
    // The CLI mints no session; the audience only satisfies the service's configuration.
    SESSION_AUDIENCE: publicBaseUrl,
    SIGNING_KEY_IDS: output('SigningKeyArn'),
    ...(outputs.has('SecretsPrefix') ? { SECRETS_PREFIX: outputs.get('SecretsPrefix') } : {}),
    ...(outputs.has('EventBusName') ? { EVENT_BUS_NAME: outputs.get('EventBusName') } : {}),
  };
}
