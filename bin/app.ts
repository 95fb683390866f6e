/**
 * The CDK app: one {@link SsoStack} per deployment stage, checked by cdk-nag's AwsSolutions pack.
 *
 * Context keys (cdk.json, or `-c key=value` on the command line):
 * - `stage`: which block of `stages` to use, and the stack name `Sso-<stage>` (default `dev`).
 * - `stages`: `{ "<stage>": { ...settings } }`, the settings of each stage.
 * - settings, each also accepted as a top-level key that overrides the stage's value:
 *   `sessionAudience` (required unless the stage sets it), `publicBaseUrl`, `sessionTtlSeconds`,
 *   `logRetentionDays` (a CloudWatch Logs retention: 1, 3, 5, 7, 14, 30, 60, 90, ...),
 *   `retainTable` (keep the table when the stack is deleted, default true), `tracing`
 *   (X-Ray, default false), `throttleRateLimit` (requests per second) and `throttleBurstLimit`
 *   (requests), the API stage's limits (default 100 and 200), `signInThrottleRateLimit` and
 *   `signInThrottleBurstLimit` (the login, ACS, callback and SCIM routes' own limits, default 50
 *   and 100), `metadataRefreshHours` (how often the scheduled IdP metadata refresh runs, in whole
 *   hours, default 6), `signer` (`kms` or `secret`, default `kms`), `sessionCorsOrigins` (origins
 *   that may call GET /session with credentials, comma-separated), `customDomainName` with
 *   `certificateArn` (an ACM certificate in the stack's region), `alarmTopicArn` (an SNS topic the
 *   alarms notify), `metricsNamespace` (default `SsoService`).
 *
 * A missing or malformed key ends the synth with one line naming it, not a stack trace.
 *
 * Example: `npx cdk deploy -c stage=prod -c sessionAudience=https://app.example.com`.
 */
import { App, Duration, RemovalPolicy, Tags, Validations } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { SsoStack, type SsoStackProps } from '../lib/sso-stack';

type Settings = Readonly<Record<string, unknown>>;

/** A context key that is missing or malformed: reported in one line, without a stack trace. */
class ContextError extends Error {}

function isRecord(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readStage(node: Node): string {
  const stage = node.tryGetContext('stage') ?? 'dev';
  if (typeof stage !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(stage)) {
    throw new ContextError(`Context "stage" must be a lowercase name like "dev", got ${JSON.stringify(stage)}`);
  }
  return stage;
}

function readStageSettings(node: Node, stage: string): Settings {
  const stages: unknown = node.tryGetContext('stages') ?? {};
  if (!isRecord(stages)) throw new ContextError('Context "stages" must be an object of stage settings');
  const settings = stages[stage] ?? {};
  if (!isRecord(settings)) throw new ContextError(`Context "stages.${stage}" must be an object`);
  return settings;
}

/** A setting from the command line or top-level context first, then from the stage's block. */
function setting(node: Node, stageSettings: Settings, key: string): unknown {
  return node.tryGetContext(key) ?? stageSettings[key];
}

function optionalString(value: unknown, key: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new ContextError(`Context "${key}" must be a string`);
  return value;
}

function optionalInteger(value: unknown, key: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number <= 0) {
    throw new ContextError(`Context "${key}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return number;
}

function optionalBoolean(value: unknown, key: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ContextError(`Context "${key}" must be true or false, got ${JSON.stringify(value)}`);
}

function optionalRetention(value: unknown, key: string): RetentionDays | undefined {
  const days = optionalInteger(value, key);
  if (days === undefined) return undefined;
  const retention = Object.values(RetentionDays).find((allowed) => allowed === days);
  if (typeof retention !== 'number') {
    throw new ContextError(`Context "${key}" must be a CloudWatch Logs retention in days (1, 3, 5, 7, 14, 30, 60, 90, ...), got ${days}`);
  }
  return retention;
}

function optionalList(value: unknown, key: string): string[] | undefined {
  const text = optionalString(value, key);
  return text?.split(',').map((item) => item.trim()).filter(Boolean);
}

function optionalSigner(value: unknown, key: string): 'kms' | 'secret' | undefined {
  const signer = optionalString(value, key);
  if (signer === undefined || signer === 'kms' || signer === 'secret') return signer;
  throw new ContextError(`Context "${key}" must be "kms" or "secret", got ${JSON.stringify(signer)}`);
}

function readStackProps(node: Node, stage: string): SsoStackProps {
  const stageSettings = readStageSettings(node, stage);
  const read = (key: string): unknown => setting(node, stageSettings, key);

  const sessionAudience = optionalString(read('sessionAudience'), 'sessionAudience');
  if (sessionAudience === undefined) {
    throw new ContextError(`Context "sessionAudience" is required for stage "${stage}": pass -c sessionAudience=<front end identifier>, or set it under stages.${stage} in cdk.json`);
  }
  const retainTable = optionalBoolean(read('retainTable'), 'retainTable') ?? true;
  const metadataRefreshHours = optionalInteger(read('metadataRefreshHours'), 'metadataRefreshHours');
  const customDomainName = optionalString(read('customDomainName'), 'customDomainName');
  const certificateArn = optionalString(read('certificateArn'), 'certificateArn');
  if ((customDomainName === undefined) !== (certificateArn === undefined)) {
    throw new ContextError('Context "customDomainName" and "certificateArn" go together: pass both (-c customDomainName=sso.example.com -c certificateArn=arn:aws:acm:...) or neither');
  }
  const signInRate = optionalInteger(read('signInThrottleRateLimit'), 'signInThrottleRateLimit');
  const signInBurst = optionalInteger(read('signInThrottleBurstLimit'), 'signInThrottleBurstLimit');
  if ((signInRate === undefined) !== (signInBurst === undefined)) {
    throw new ContextError('Context "signInThrottleRateLimit" and "signInThrottleBurstLimit" go together: pass both or neither');
  }
  const alarmTopicArn = optionalString(read('alarmTopicArn'), 'alarmTopicArn');

  return {
    description: `SSO service (${stage})`,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    sessionAudience,
    publicBaseUrl: optionalString(read('publicBaseUrl'), 'publicBaseUrl'),
    sessionTtlSeconds: optionalInteger(read('sessionTtlSeconds'), 'sessionTtlSeconds'),
    logRetention: optionalRetention(read('logRetentionDays'), 'logRetentionDays'),
    tracing: optionalBoolean(read('tracing'), 'tracing'),
    tableRemovalPolicy: retainTable ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    throttleRateLimit: optionalInteger(read('throttleRateLimit'), 'throttleRateLimit'),
    throttleBurstLimit: optionalInteger(read('throttleBurstLimit'), 'throttleBurstLimit'),
    signInThrottle: signInRate === undefined || signInBurst === undefined ? undefined : { rateLimit: signInRate, burstLimit: signInBurst },
    metadataRefreshRate: metadataRefreshHours === undefined ? undefined : Duration.hours(metadataRefreshHours),
    signer: optionalSigner(read('signer'), 'signer'),
    sessionCorsOrigins: optionalList(read('sessionCorsOrigins'), 'sessionCorsOrigins'),
    metricsNamespace: optionalString(read('metricsNamespace'), 'metricsNamespace'),
    customDomain: customDomainName === undefined || certificateArn === undefined ? undefined : { domainName: customDomainName, certificateArn },
    alarmTopicArn,
  };
}

function main(): void {
  const app = new App();
  const stage = readStage(app.node);
  const stack = new SsoStack(app, `Sso-${stage}`, readStackProps(app.node, stage));
  Tags.of(stack).add('service', 'sso');
  Tags.of(stack).add('stage', stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }));
}

try {
  main();
} catch (error) {
  // A configuration mistake is the operator's to fix: one line naming the key, no stack trace.
  // Invalid props (SsoStack: ...) are reported the same way; anything else is a bug and keeps its trace.
  if (!(error instanceof ContextError) && !(error instanceof Error && /^Sso(Stack|Service): /.test(error.message))) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
