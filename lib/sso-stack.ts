import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, type CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { type CfnRoute, HttpApi, HttpMethod, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, type CfnTable, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { TABLE_KEYS } from '../functions/core/table';
import { GROUP_ENTRIES, ROUTES, type RouteGroup } from '../functions/routes';
import { SsoFunction } from './sso-function';

/** The repository root: Lambda entries in `GROUP_ENTRIES` are relative to it. */
const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const ROUTE_GROUPS = Object.keys(GROUP_ENTRIES) as RouteGroup[];

const DEFAULT_SESSION_TTL_SECONDS = 8 * 60 * 60;

/** The entry of the scheduled function that refreshes SAML connections' IdP metadata, relative to the root. */
const METADATA_REFRESH_ENTRY = 'functions/metadata-refresh.ts';

const DEFAULT_METADATA_REFRESH_RATE = Duration.hours(6);

/** The longest a missed schedule invocation is still delivered: past a day the next run is as good. */
const MAX_SCHEDULE_EVENT_AGE = Duration.hours(24);

/**
 * One JSON line per request. `$context.path` carries no query string, so OIDC codes and states
 * and SAML requests never reach the access log.
 */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    routeKey: '$context.routeKey',
    path: '$context.path',
    protocol: '$context.protocol',
    status: '$context.status',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
  }),
);

/** Why the routes have no API Gateway authorizer, recorded on each route for cdk-nag. */
const PUBLIC_ROUTE_ACKNOWLEDGMENT = {
  id: 'AwsSolutions-APIG4',
  reason:
    'The routes are public by design: the ACS receives browser form posts relayed from identity providers, login, metadata, JWKS and health are fetched anonymously, and GET /session and logout verify the session token (signature and revocation) in the handler, and the /scim/v2 routes verify the tenant SCIM bearer token (looked up by its hash) in the handler. Callers hold no IAM credentials or Cognito tokens; this service is what issues their sessions.',
} as const;

/** Properties of the {@link SsoStack}; `bin/app.ts` fills them from the stage's cdk.json context. */
export interface SsoStackProps extends StackProps {
  /** The `aud` of session tokens: the identifier of the SaaS front end that verifies them. */
  readonly sessionAudience: string;

  /**
   * The public base URL of the service (an https URL, e.g. a custom domain in front of the API).
   * SAML entity ids, ACS URLs and the session issuer derive from it.
   *
   * @default - the HTTP API's execute-api endpoint
   */
  readonly publicBaseUrl?: string;

  /**
   * How long a session token lives, in seconds.
   *
   * @default 28800 (8 hours)
   */
  readonly sessionTtlSeconds?: number;

  /**
   * What happens to the table when the stack is deleted or the table replaced.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly tableRemovalPolicy?: RemovalPolicy;

  /**
   * How long the functions' logs and the API's access logs are kept.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;

  /**
   * Whether the functions send traces to AWS X-Ray.
   *
   * @default false
   */
  readonly tracing?: boolean;

  /**
   * The steady request rate the API's stage allows across all routes, per second.
   *
   * @default 100
   */
  readonly throttleRateLimit?: number;

  /**
   * The burst of requests the API's stage allows above the rate, in requests.
   *
   * @default 200
   */
  readonly throttleBurstLimit?: number;

  /**
   * How often the metadata-refresh function runs: a whole number of minutes, at least one.
   *
   * @default Duration.hours(6)
   */
  readonly metadataRefreshRate?: Duration;
}

/**
 * The whole service: one DynamoDB table, one KMS signing key, one HTTP API whose routes come from
 * `ROUTES`, one {@link SsoFunction} per route group, each granted only what its routes need, a
 * scheduled function that refreshes IdP metadata, and an EventBridge bus the login and refresh
 * functions publish to.
 *
 * Events on the bus have source `sso` and the event name as detail-type: `user.created`,
 * `user.updated`, `user.linked`, `user.deactivated`, `login.succeeded`, `login.refused`,
 * `seat_limit.reached`, `certificate.expiring`.
 *
 * @throws Error when a prop is invalid (empty audience, non-https base URL, a non-positive TTL or
 * limit, a refresh rate that is not a whole number of minutes).
 */
export class SsoStack extends Stack {
  /** The table that holds every item of the service. */
  readonly table: Table;

  /** The asymmetric key that signs session tokens (ES256). */
  readonly signingKey: Key;

  /** The HTTP API. */
  readonly api: HttpApi;

  /** The function of each route group. */
  readonly functions: Readonly<Record<RouteGroup, SsoFunction>>;

  /** The Secrets Manager name prefix under which the service's secrets live: `sso/<stackName>/`. */
  readonly secretsPrefix: string;

  /** The bus the service publishes its events to (`sso-<stackName>`). */
  readonly eventBus: EventBus;

  /** The function, invoked by {@link metadataRefreshSchedule}, that refreshes SAML connections' IdP metadata. */
  readonly metadataRefreshFunction: SsoFunction;

  /** The EventBridge Scheduler schedule that invokes {@link metadataRefreshFunction}. */
  readonly metadataRefreshSchedule: Schedule;

  constructor(scope: Construct, id: string, props: SsoStackProps) {
    super(scope, id, props);
    validateProps(props);
    this.secretsPrefix = `sso/${this.stackName}/`;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE_KEYS.timeToLive,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Items hold no secrets (the contract forbids it), so the AWS-managed key suffices: its
      // use is logged in CloudTrail and there is no key policy to maintain.
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE_KEYS.byTenantIndex,
      partitionKey: { name: TABLE_KEYS.byTenantPartitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.byTenantSortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.signingKey = new Key(this, 'SigningKey', {
      description: `Signs the session tokens of ${this.stackName} (ES256)`,
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      alias: `alias/sso/${this.stackName}/session-signing`,
      // Deleting the key would invalidate every session and the published JWKS at once.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention });
    this.api = new HttpApi(this, 'Api', {
      description: `SSO service of ${this.stackName}`,
      createDefaultStage: false,
    });
    this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 100, burstLimit: props.throttleBurstLimit ?? 200 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: ACCESS_LOG_FORMAT,
      },
    });

    this.eventBus = new EventBus(this, 'EventBus', {
      eventBusName: `sso-${this.stackName}`,
      description: `Provisioning, login and certificate events of ${this.stackName}`,
    });

    // What the shared configuration loader requires of every function.
    const baseEnvironment = {
      TABLE_NAME: this.table.tableName,
      // The API endpoint depends on the API alone, not on its routes, so the functions may
      // reference it without a cycle (routes -> integrations -> functions -> API id).
      PUBLIC_BASE_URL: props.publicBaseUrl ?? this.api.apiEndpoint,
      SESSION_AUDIENCE: props.sessionAudience,
      SESSION_TTL_SECONDS: String(props.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS),
      SIGNING_KEY_IDS: this.signingKey.keyArn,
      POWERTOOLS_SERVICE_NAME: 'sso',
    };
    const routeEnvironment = { ...baseEnvironment, SECRETS_PREFIX: this.secretsPrefix };
    const publisherEnvironment = { EVENT_BUS_NAME: this.eventBus.eventBusName };

    const functions = {} as Record<RouteGroup, SsoFunction>;
    for (const group of ROUTE_GROUPS) {
      functions[group] = new SsoFunction(this, `${capitalize(group)}Function`, {
        entry: GROUP_ENTRIES[group],
        projectRoot: PROJECT_ROOT,
        description: `SSO ${group} routes of ${this.stackName}`,
        // SCIM reads no secret (its tokens are hashes in the table), so it gets no SECRETS_PREFIX.
        environment: group === 'session' ? routeEnvironment : group === 'scim' ? { ...baseEnvironment, ...publisherEnvironment } : { ...routeEnvironment, ...publisherEnvironment },
        tracing: props.tracing,
        logRetention,
      });
    }
    this.functions = functions;

    this.grantSessionFunction(functions.session);
    this.grantLoginFunction(functions.saml);
    this.grantLoginFunction(functions.oidc);
    this.grantScimFunction(functions.scim);

    // No SECRETS_PREFIX: the refresh fetches public IdP metadata and may read no secret.
    this.metadataRefreshFunction = new SsoFunction(this, 'MetadataRefreshFunction', {
      entry: METADATA_REFRESH_ENTRY,
      projectRoot: PROJECT_ROOT,
      description: `SSO IdP metadata refresh of ${this.stackName}`,
      environment: { ...baseEnvironment, ...publisherEnvironment },
      servesHttpApi: false,
      timeout: Duration.seconds(60),
      tracing: props.tracing,
      logRetention,
    });
    this.grantMetadataRefreshFunction(this.metadataRefreshFunction);
    this.metadataRefreshSchedule = this.scheduleMetadataRefresh(
      this.metadataRefreshFunction,
      props.metadataRefreshRate ?? DEFAULT_METADATA_REFRESH_RATE,
    );

    const integrations = {} as Record<RouteGroup, HttpLambdaIntegration>;
    for (const group of ROUTE_GROUPS) {
      integrations[group] = new HttpLambdaIntegration(`${capitalize(group)}Integration`, functions[group].function);
    }
    for (const route of ROUTES) {
      const [httpRoute] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrations[route.group],
      });
      Validations.of(httpRoute.node.defaultChild as CfnRoute).acknowledge(PUBLIC_ROUTE_ACKNOWLEDGMENT);
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'The HTTP API endpoint' });
    new CfnOutput(this, 'PublicBaseUrl', { value: props.publicBaseUrl ?? this.api.apiEndpoint, description: 'The public URL SP entity ids and ACS URLs derive from' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'The DynamoDB table' });
    new CfnOutput(this, 'SigningKeyArn', { value: this.signingKey.keyArn, description: 'The KMS key that signs sessions' });
    new CfnOutput(this, 'SecretsPrefix', { value: this.secretsPrefix, description: 'The Secrets Manager name prefix' });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName, description: 'The EventBridge bus of the service events' });
    new CfnOutput(this, 'EventBusArn', { value: this.eventBus.eventBusArn, description: 'The ARN of the EventBridge bus' });
  }

  /** Reads and revokes sessions, publishes the JWKS; it never mints, so it may not sign. */
  private grantSessionFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.signingKey.grant(fn, 'kms:GetPublicKey');
    this.acknowledgeTableIndexes(fn);
  }

  /** Verifies SAML responses or OIDC callbacks, provisions users, mints sessions and reads connection secrets. */
  private grantLoginFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.signingKey.grant(fn, 'kms:Sign', 'kms:GetPublicKey');
    this.eventBus.grantPutEventsTo(fn);
    this.acknowledgeTableIndexes(fn);

    // Secret ARNs end in a random suffix, so a name prefix can only be granted with a wildcard.
    const secretsArn = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${this.secretsPrefix}*`;
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretsArn] }),
    );
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${this.secretsPrefix}*]`,
      reason: `GetSecretValue on the secrets named ${this.secretsPrefix}... only (SAML SP decryption keys, OIDC client secrets); secret ARNs carry a random suffix, so the name prefix needs a wildcard.`,
    });
  }

  /**
   * Provisions users and groups, checks SCIM tokens by their hash in the table and publishes
   * the user events; it mints no session and reads no secret, so it gets no KMS or Secrets
   * Manager permission at all.
   */
  private grantScimFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.eventBus.grantPutEventsTo(fn);
    this.acknowledgeTableIndexes(fn);
  }

  /**
   * Updates connection items and publishes `certificate.expiring`; it mints no session and reads
   * no secret, so it may neither sign nor read Secrets Manager. The public key only because the
   * shared configuration names the signing key.
   */
  private grantMetadataRefreshFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.signingKey.grant(fn, 'kms:GetPublicKey');
    this.eventBus.grantPutEventsTo(fn);
    this.acknowledgeTableIndexes(fn);
  }

  /** A rate schedule in the default group, invoking the function under a role that may invoke it alone. */
  private scheduleMetadataRefresh(fn: SsoFunction, rate: Duration): Schedule {
    // An own role rather than the target's shared one, so its acknowledgement sits on it alone;
    // the conditions keep another account's schedules from assuming it (confused deputy).
    const role = new Role(this, 'MetadataRefreshSchedulerRole', {
      description: `Lets EventBridge Scheduler invoke the metadata refresh of ${this.stackName}`,
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': Aws.ACCOUNT_ID,
            'aws:SourceArn': `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule-group/default`,
          },
        },
      }),
    });
    const schedule = new Schedule(this, 'MetadataRefreshSchedule', {
      description: `Refreshes the IdP metadata of the SAML connections of ${this.stackName}`,
      schedule: ScheduleExpression.rate(rate),
      target: new LambdaInvoke(fn.function, {
        role,
        // A run delivered after the next one is due does nothing the next one would not.
        maxEventAge: rate.toSeconds() < MAX_SCHEDULE_EVENT_AGE.toSeconds() ? rate : MAX_SCHEDULE_EVENT_AGE,
      }),
    });
    const functionLogicalId = this.getLogicalId(fn.function.node.defaultChild as CfnElement);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionLogicalId}.Arn>:*]`,
      reason:
        'lambda:InvokeFunction on the metadata-refresh function and its versions and aliases (grantInvoke adds the ":*" qualifier); the wildcard stays inside this one function.',
    });
    return schedule;
  }

  private acknowledgeTableIndexes(fn: SsoFunction): void {
    const tableLogicalId = this.getLogicalId(this.table.node.defaultChild as CfnTable);
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
      reason: `Query on the table's own secondary indexes (${TABLE_KEYS.byTenantIndex}); the wildcard stays inside this one table.`,
    });
  }
}

function validateProps(props: SsoStackProps): void {
  if (!Token.isUnresolved(props.sessionAudience) && props.sessionAudience.trim() === '') {
    throw new Error('SsoStack: sessionAudience must not be empty');
  }
  if (props.publicBaseUrl !== undefined && !Token.isUnresolved(props.publicBaseUrl)) {
    const url = parseUrl(props.publicBaseUrl);
    if (url === undefined || url.protocol !== 'https:' || url.search !== '' || url.hash !== '') {
      throw new Error(`SsoStack: publicBaseUrl must be an https URL without query or fragment, got "${props.publicBaseUrl}"`);
    }
  }
  for (const key of ['sessionTtlSeconds', 'throttleRateLimit', 'throttleBurstLimit'] as const) {
    const value = props[key];
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      throw new Error(`SsoStack: ${key} must be a positive integer, got ${value}`);
    }
  }
  const rate = props.metadataRefreshRate;
  if (rate !== undefined && !rate.isUnresolved()) {
    const minutes = rate.toSeconds({ integral: false }) / 60;
    if (!Number.isInteger(minutes) || minutes < 1) {
      throw new Error(`SsoStack: metadataRefreshRate must be a whole number of minutes, at least one, got ${rate.toHumanString()}`);
    }
  }
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
