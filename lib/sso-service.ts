import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, type CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  ApiMapping,
  type CfnRoute,
  type CfnStage,
  CorsHttpMethod,
  DomainName,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  type HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import type { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { Alarm, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, type CfnTable, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { DEFAULT_METRICS_NAMESPACE } from '../functions/metric-names';
import { TABLE_KEYS } from '../functions/core/table';
import { DEFAULT_ROUTE_GROUP, GROUP_ENTRIES, ROUTES, type RouteGroup, routeKey, routeThrottle } from '../functions/routes';
import { SsoMonitoring } from './sso-monitoring';
import { createSessionAuthorizer } from './session-authorizer';
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

const DEFAULT_THROTTLE = { rateLimit: 100, burstLimit: 200 } as const;
const DEFAULT_SIGN_IN_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;

/** The name, under the secrets prefix, of the secret that holds the session signing key in `secret` mode. */
const SIGNING_SECRET_NAME = 'session-signing-key';

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
    'The routes are public by design: the ACS receives browser form posts relayed from identity providers, login, metadata, discovery, JWKS and health are fetched anonymously, GET /session and logout verify the session token (signature and revocation) in the handler, the /scim/v2 routes verify the tenant SCIM bearer token (looked up by its hash) in the handler, and $default only answers not_found. Callers hold no IAM credentials or Cognito tokens; this service is what issues their sessions.',
} as const;

/**
 * Where session tokens are signed.
 * - `kms`: an AWS KMS ECC_NIST_P256 key; the private key never leaves KMS, and every login makes
 *   one `Sign` request, counted against the account's per-region quota of asymmetric requests.
 * - `secret`: an ES256 key kept in a Secrets Manager secret (generated at deployment) and used in
 *   the functions' memory; no API call per signature, but the key material is in Lambda memory
 *   and readable by whoever may read the secret.
 */
export type SessionSignerMode = 'kms' | 'secret';

/** A custom domain in front of the service's HTTP API. */
export interface SsoCustomDomain {
  /** The domain name, e.g. `sso.example.com`. */
  readonly domainName: string;

  /** An ACM certificate for `domainName`, in the stack's region (a regional endpoint). */
  readonly certificate: ICertificate;
}

/** A per-second steady rate and a burst, as API Gateway throttles. */
export interface SsoThrottle {
  /** Requests per second, a positive integer. */
  readonly rateLimit: number;

  /** The burst above the rate, in requests, a positive integer. */
  readonly burstLimit: number;
}

/** Properties of the {@link SsoService}. */
export interface SsoServiceProps {
  /** The `aud` of session tokens: the identifier of the SaaS front end that verifies them. */
  readonly sessionAudience: string;

  /**
   * The public base URL of the service (an https URL without query or fragment). SAML entity ids,
   * ACS URLs and the session issuer derive from it.
   *
   * @default - `https://<customDomain.domainName>` with a custom domain, else the HTTP API's
   * execute-api endpoint
   */
  readonly publicBaseUrl?: string;

  /**
   * A custom domain for the API: an API Gateway domain name with the certificate, mapped to the
   * API's default stage. Point a DNS record at the `CustomDomainTarget` output.
   *
   * @default - none: the execute-api endpoint only
   */
  readonly customDomain?: SsoCustomDomain;

  /**
   * The origins (`https://app.example.com`) whose scripts may call `GET /session` with
   * credentials (the session cookie, or an `Authorization` header). Only these origins are
   * answered with CORS headers; `*` is refused, as browsers refuse it with credentials.
   *
   * @default - none: no CORS, only same-origin and server-side callers
   */
  readonly sessionCorsOrigins?: readonly string[];

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
   * The SNS topic the alarms notify when they go into ALARM and back to OK.
   *
   * @default - none: the alarms and the dashboard exist, but notify no one
   */
  readonly alarmTopic?: ITopic;

  /**
   * Where session tokens are signed; see {@link SessionSignerMode} for the trade-off.
   *
   * @default 'kms'
   */
  readonly signer?: SessionSignerMode;

  /**
   * Whether the functions send traces to AWS X-Ray (active tracing and the Powertools tracer).
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
   * The throttle of each route that starts or completes a login (SAML and OIDC login, ACS,
   * callback) and of each `/scim/` route, on top of the stage-wide limit; at most the stage's.
   *
   * @default - 50 requests per second with a burst of 100, or the stage's limits if lower
   */
  readonly signInThrottle?: SsoThrottle;

  /**
   * How often the metadata-refresh function runs: a whole number of minutes, at least one.
   *
   * @default Duration.hours(6)
   */
  readonly metadataRefreshRate?: Duration;

  /**
   * The CloudWatch namespace of the service's metrics; give each service in one account and
   * region its own.
   *
   * @default 'SsoService'
   */
  readonly metricsNamespace?: string;

  /**
   * The name the service's resources are named after: the KMS alias `alias/sso/<name>/...`, the
   * secrets prefix `sso/<name>/`, the event bus `sso-<name>`. Letters, digits and hyphens.
   *
   * @default - the stack's name
   */
  readonly serviceName?: string;
}

/**
 * The whole SSO service, to embed in any stack: one DynamoDB table, the session signing key (KMS,
 * or a Secrets Manager secret), one HTTP API whose routes come from `ROUTES` plus a `$default`
 * route that answers `not_found`, one {@link SsoFunction} per route group granted only what its
 * routes need, a scheduled metadata refresh, an EventBridge bus, and the alarms and dashboard of
 * {@link SsoMonitoring}.
 *
 * Events on the bus have source `sso` and the event name as detail-type: `user.created`,
 * `user.updated`, `user.linked`, `user.deactivated`, `login.succeeded`, `login.refused`,
 * `seat_limit.reached`, `certificate.expiring`.
 *
 * @throws Error, naming the prop, when a prop is invalid (see {@link validateSsoServiceProps}).
 */
export class SsoService extends Construct {
  /** The table that holds every item of the service. */
  readonly table: Table;

  /** The KMS key that signs session tokens, in `kms` mode. */
  readonly signingKey?: Key;

  /** The secret that holds the session signing key, in `secret` mode (named `<secretsPrefix>session-signing-key`). */
  readonly signingSecret?: Secret;

  /** The HTTP API. */
  readonly api: HttpApi;

  /** The API's `$default` stage. */
  readonly stage: HttpStage;

  /** The custom domain, when one is configured. */
  readonly domainName?: DomainName;

  /** The function of each route group. */
  readonly functions: Readonly<Record<RouteGroup, SsoFunction>>;

  /** The Secrets Manager name prefix under which the service's secrets live: `sso/<serviceName>/`. */
  readonly secretsPrefix: string;

  /** The bus the service publishes its events to (`sso-<serviceName>`). */
  readonly eventBus: EventBus;

  /** The function, invoked by {@link metadataRefreshSchedule}, that refreshes SAML connections' IdP metadata. */
  readonly metadataRefreshFunction: SsoFunction;

  /** The EventBridge Scheduler schedule that invokes {@link metadataRefreshFunction}. */
  readonly metadataRefreshSchedule: Schedule;

  /** The public base URL, which is also the `iss` of session tokens. */
  readonly issuer: string;

  /** The `aud` of session tokens. */
  readonly sessionAudience: string;

  /** The alarms of the service. */
  readonly alarms: readonly Alarm[];

  /** The CloudWatch dashboard of the service. */
  readonly dashboard: Dashboard;

  private readonly serviceName: string;

  constructor(scope: Construct, id: string, props: SsoServiceProps) {
    super(scope, id);
    validateSsoServiceProps(props);
    const stack = Stack.of(this);
    this.serviceName = props.serviceName ?? stack.stackName;
    this.secretsPrefix = `sso/${this.serviceName}/`;
    this.sessionAudience = props.sessionAudience;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const signer = props.signer ?? 'kms';
    const metricsNamespace = props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;

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

    if (signer === 'kms') {
      this.signingKey = new Key(this, 'SigningKey', {
        description: `Signs the session tokens of ${this.serviceName} (ES256)`,
        keySpec: KeySpec.ECC_NIST_P256,
        keyUsage: KeyUsage.SIGN_VERIFY,
        alias: `alias/sso/${this.serviceName}/session-signing`,
        // Deleting the key would invalidate every session and the published JWKS at once.
        removalPolicy: RemovalPolicy.RETAIN,
      });
    } else {
      this.signingSecret = new Secret(this, 'SigningSecret', {
        secretName: `${this.secretsPrefix}${SIGNING_SECRET_NAME}`,
        description: `The seed of the ES256 key that signs the session tokens of ${this.serviceName}`,
        // A random seed the functions derive the P-256 key from: the key is never in a template.
        generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(this.signingSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating the signing key in place would invalidate every live session at once; a key is rotated by publishing a second secret first (SIGNING_SECRET_NAMES lists both, the first signs), as the README describes.',
      });
    }

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention });
    this.api = new HttpApi(this, 'Api', {
      description: `SSO service of ${this.serviceName}`,
      createDefaultStage: false,
      ...(props.sessionCorsOrigins?.length
        ? {
            corsPreflight: {
              allowOrigins: [...props.sessionCorsOrigins],
              allowCredentials: true,
              allowMethods: [CorsHttpMethod.GET],
              allowHeaders: ['authorization'],
              maxAge: Duration.minutes(10),
            },
          }
        : {}),
    });
    const stageThrottle = {
      rateLimit: props.throttleRateLimit ?? DEFAULT_THROTTLE.rateLimit,
      burstLimit: props.throttleBurstLimit ?? DEFAULT_THROTTLE.burstLimit,
    };
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: stageThrottle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: ACCESS_LOG_FORMAT,
      },
    });

    this.issuer = props.publicBaseUrl ?? (props.customDomain ? `https://${props.customDomain.domainName}` : this.api.apiEndpoint);
    if (props.customDomain) {
      this.domainName = new DomainName(this, 'DomainName', {
        domainName: props.customDomain.domainName,
        certificate: props.customDomain.certificate,
      });
      new ApiMapping(this, 'ApiMapping', { api: this.api, domainName: this.domainName, stage: this.stage });
    }

    this.eventBus = new EventBus(this, 'EventBus', {
      eventBusName: `sso-${this.serviceName}`,
      description: `Provisioning, login and certificate events of ${this.serviceName}`,
    });

    // What the shared configuration loader requires of every function.
    const baseEnvironment = {
      TABLE_NAME: this.table.tableName,
      // The API endpoint depends on the API alone, not on its routes, so the functions may
      // reference it without a cycle (routes -> integrations -> functions -> API id).
      PUBLIC_BASE_URL: this.issuer,
      SESSION_AUDIENCE: props.sessionAudience,
      SESSION_TTL_SECONDS: String(props.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS),
      ...(this.signingKey ? { SIGNING_KEY_IDS: this.signingKey.keyArn } : { SIGNING_SECRET_NAMES: SIGNING_SECRET_NAME }),
      POWERTOOLS_SERVICE_NAME: 'sso',
      ...(metricsNamespace === DEFAULT_METRICS_NAMESPACE ? {} : { POWERTOOLS_METRICS_NAMESPACE: metricsNamespace }),
      ...(props.tracing ? { POWERTOOLS_TRACE_ENABLED: 'true' } : {}),
    };
    const routeEnvironment = { ...baseEnvironment, SECRETS_PREFIX: this.secretsPrefix };
    const publisherEnvironment = { EVENT_BUS_NAME: this.eventBus.eventBusName };

    const functions = {} as Record<RouteGroup, SsoFunction>;
    for (const group of ROUTE_GROUPS) {
      functions[group] = new SsoFunction(this, `${capitalize(group)}Function`, {
        entry: GROUP_ENTRIES[group],
        projectRoot: PROJECT_ROOT,
        description: `SSO ${group} routes of ${this.serviceName}`,
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
    this.grantSetupFunction(functions.setup);

    // No SECRETS_PREFIX: the refresh fetches public IdP metadata and may read no secret.
    this.metadataRefreshFunction = new SsoFunction(this, 'MetadataRefreshFunction', {
      entry: METADATA_REFRESH_ENTRY,
      projectRoot: PROJECT_ROOT,
      description: `SSO IdP metadata refresh of ${this.serviceName}`,
      environment: { ...baseEnvironment, ...publisherEnvironment },
      servesHttpApi: false,
      timeout: Duration.seconds(60),
      tracing: props.tracing,
      logRetention,
    });
    this.grantMetadataRefreshFunction(this.metadataRefreshFunction);
    const metadataRefreshRate = props.metadataRefreshRate ?? DEFAULT_METADATA_REFRESH_RATE;
    this.metadataRefreshSchedule = this.scheduleMetadataRefresh(this.metadataRefreshFunction, metadataRefreshRate);

    const integrations = {} as Record<RouteGroup, HttpLambdaIntegration>;
    for (const group of ROUTE_GROUPS) {
      integrations[group] = new HttpLambdaIntegration(`${capitalize(group)}Integration`, functions[group].function);
    }
    const routes = [];
    for (const route of ROUTES) {
      const [httpRoute] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrations[route.group],
      });
      if (!httpRoute) throw new Error(`unreachable: no route was added for ${routeKey(route)}`);
      routes.push(httpRoute);
      Validations.of(httpRoute.node.defaultChild as CfnRoute).acknowledge(PUBLIC_ROUTE_ACKNOWLEDGMENT);
    }
    // Without it API Gateway answers unknown paths itself ({"message":"Not Found"}); the
    // session function answers not_found for any route key it does not serve.
    const defaultRoute = new HttpRoute(this, 'DefaultRoute', {
      httpApi: this.api,
      routeKey: HttpRouteKey.DEFAULT,
      integration: integrations[DEFAULT_ROUTE_GROUP],
    });
    routes.push(defaultRoute);
    Validations.of(defaultRoute.node.defaultChild as CfnRoute).acknowledge(PUBLIC_ROUTE_ACKNOWLEDGMENT);

    const signInThrottle = props.signInThrottle ?? {
      rateLimit: Math.min(DEFAULT_SIGN_IN_THROTTLE.rateLimit, stageThrottle.rateLimit),
      burstLimit: Math.min(DEFAULT_SIGN_IN_THROTTLE.burstLimit, stageThrottle.burstLimit),
    };
    this.throttleSignInRoutes(signInThrottle, routes);

    const monitoring = new SsoMonitoring(this, 'Monitoring', {
      api: this.api,
      accessLogs,
      table: this.table,
      functions: { ...functions, metadataRefresh: this.metadataRefreshFunction },
      metricsNamespace,
      metadataRefreshRate,
      alarmTopic: props.alarmTopic,
    });
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;

    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'The HTTP API endpoint' });
    new CfnOutput(this, 'PublicBaseUrl', { value: this.issuer, description: 'The public URL SP entity ids and ACS URLs derive from' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'The DynamoDB table' });
    if (this.signingKey) {
      new CfnOutput(this, 'SigningKeyArn', { value: this.signingKey.keyArn, description: 'The KMS key that signs sessions' });
    }
    if (this.signingSecret) {
      new CfnOutput(this, 'SigningSecretArn', { value: this.signingSecret.secretArn, description: 'The secret that holds the session signing key' });
    }
    new CfnOutput(this, 'SecretsPrefix', { value: this.secretsPrefix, description: 'The Secrets Manager name prefix' });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName, description: 'The EventBridge bus of the service events' });
    new CfnOutput(this, 'EventBusArn', { value: this.eventBus.eventBusArn, description: 'The ARN of the EventBridge bus' });
    if (this.domainName) {
      new CfnOutput(this, 'CustomDomainTarget', {
        value: this.domainName.regionalDomainName,
        description: `Point a CNAME (or an alias A record) for ${props.customDomain?.domainName} here`,
      });
      new CfnOutput(this, 'CustomDomainHostedZoneId', {
        value: this.domainName.regionalHostedZoneId,
        description: 'The hosted zone id of the custom domain target, for a Route 53 alias record',
      });
    }
  }

  /**
   * An HTTP API JWT authorizer that accepts this service's session tokens (its issuer and
   * audience), for a SaaS backend's own HTTP API routes; see {@link createSessionAuthorizer}.
   */
  sessionAuthorizer(id = 'SsoSessionAuthorizer'): HttpJwtAuthorizer {
    return createSessionAuthorizer({ id, issuer: this.issuer, audience: this.sessionAudience });
  }

  /** The sign-in and SCIM routes get their own throttle in the stage's route settings. */
  private throttleSignInRoutes(throttle: SsoThrottle, routes: readonly Construct[]): void {
    const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
    for (const route of ROUTES) {
      if (routeThrottle(route) !== 'signIn') continue;
      routeSettings[routeKey(route)] = { ThrottlingRateLimit: throttle.rateLimit, ThrottlingBurstLimit: throttle.burstLimit };
    }
    const cfnStage = this.stage.node.defaultChild as CfnStage;
    cfnStage.routeSettings = routeSettings;
    // Route settings name route keys, which must exist when the stage is created or updated.
    for (const route of routes) cfnStage.node.addDependency(route);
  }

  /** Reads and revokes sessions, publishes the JWKS; it never mints, so it may not sign (in `secret` mode it must read the key to publish it). */
  private grantSessionFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.signingKey?.grant(fn, 'kms:GetPublicKey');
    if (this.signingSecret) this.grantSigningSecret(fn);
    this.acknowledgeTableIndexes(fn);
  }

  /** Verifies SAML responses or OIDC callbacks, provisions users, mints sessions and reads connection secrets. */
  private grantLoginFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.signingKey?.grant(fn, 'kms:Sign', 'kms:GetPublicKey');
    this.eventBus.grantPutEventsTo(fn);
    this.acknowledgeTableIndexes(fn);
    this.grantRouteSecrets(fn);
  }

  /**
   * The self-serve setup pages: they write the link's connection and its audit events, and store
   * the OIDC client secret an IT admin enters, under `<prefix>setup/` only. They mint no session
   * and read no secret (a connection made through a link has no SP key to sign with), so no KMS
   * and no GetSecretValue: a link's pages can never reach the signing key or another secret.
   */
  private grantSetupFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.eventBus.grantPutEventsTo(fn);
    this.acknowledgeTableIndexes(fn);
    const setupSecretsArn = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${this.secretsPrefix}setup/*`;
    fn.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue'], resources: [setupSecretsArn] }));
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${this.secretsPrefix}setup/*]`,
      reason: `CreateSecret/PutSecretValue on the OIDC client secrets of setup links (${this.secretsPrefix}setup/...) only; secret ARNs carry a random suffix, so the name prefix needs a wildcard.`,
    });
  }

  private grantRouteSecrets(fn: SsoFunction): void {
    // Secret ARNs end in a random suffix, so a name prefix can only be granted with a wildcard.
    // In `secret` mode the signing secret lies under the prefix too.
    const secretsArn = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${this.secretsPrefix}*`;
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretsArn] }),
    );
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${this.secretsPrefix}*]`,
      reason: `GetSecretValue on the secrets named ${this.secretsPrefix}... only (SAML SP decryption keys, OIDC client secrets, the signing key in secret mode); secret ARNs carry a random suffix, so the name prefix needs a wildcard.`,
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

  /** GetSecretValue on the signing secret alone. */
  private grantSigningSecret(fn: SsoFunction): void {
    if (!this.signingSecret) return;
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.signingSecret.secretArn] }),
    );
  }

  /**
   * Updates connection items and publishes `certificate.expiring`; it mints no session and reads
   * no secret, so it may neither sign nor read Secrets Manager. The public key (in `kms` mode)
   * only because the shared configuration names the signing key.
   */
  private grantMetadataRefreshFunction(fn: SsoFunction): void {
    this.table.grantReadWriteData(fn);
    this.signingKey?.grant(fn, 'kms:GetPublicKey');
    this.eventBus.grantPutEventsTo(fn);
    this.acknowledgeTableIndexes(fn);
  }

  /** A rate schedule in the default group, invoking the function under a role that may invoke it alone. */
  private scheduleMetadataRefresh(fn: SsoFunction, rate: Duration): Schedule {
    // An own role rather than the target's shared one, so its acknowledgement sits on it alone;
    // the conditions keep another account's schedules from assuming it (confused deputy).
    const role = new Role(this, 'MetadataRefreshSchedulerRole', {
      description: `Lets EventBridge Scheduler invoke the metadata refresh of ${this.serviceName}`,
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
      description: `Refreshes the IdP metadata of the SAML connections of ${this.serviceName}`,
      schedule: ScheduleExpression.rate(rate),
      target: new LambdaInvoke(fn.function, {
        role,
        // A run delivered after the next one is due does nothing the next one would not.
        maxEventAge: rate.toSeconds() < MAX_SCHEDULE_EVENT_AGE.toSeconds() ? rate : MAX_SCHEDULE_EVENT_AGE,
      }),
    });
    const functionLogicalId = Stack.of(this).getLogicalId(fn.function.node.defaultChild as CfnElement);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionLogicalId}.Arn>:*]`,
      reason:
        'lambda:InvokeFunction on the metadata-refresh function and its versions and aliases (grantInvoke adds the ":*" qualifier); the wildcard stays inside this one function.',
    });
    return schedule;
  }

  private acknowledgeTableIndexes(fn: SsoFunction): void {
    const tableLogicalId = Stack.of(this).getLogicalId(this.table.node.defaultChild as CfnTable);
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
      reason: `Query on the table's own secondary indexes (${TABLE_KEYS.byTenantIndex}); the wildcard stays inside this one table.`,
    });
  }
}

/**
 * Checks the props before anything is created, so a mistake fails the synth with the prop's name.
 * @throws Error starting `<owner>: ` (default `SsoService: `) for an empty audience, a base URL that is no https URL, a
 * non-positive or fractional TTL or limit, a sign-in throttle above the stage's, a refresh rate
 * that is not a whole number of minutes, a CORS origin that is not a bare origin (or is `*`), an
 * invalid domain name, signer, metrics namespace or service name.
 */
export function validateSsoServiceProps(props: SsoServiceProps, owner = 'SsoService'): void {
  const fail = (message: string): never => {
    throw new Error(`${owner}: ${message}`);
  };
  if (!Token.isUnresolved(props.sessionAudience) && props.sessionAudience.trim() === '') {
    fail('sessionAudience must not be empty');
  }
  if (props.publicBaseUrl !== undefined && !Token.isUnresolved(props.publicBaseUrl)) {
    const url = parseUrl(props.publicBaseUrl);
    if (url === undefined || url.protocol !== 'https:' || url.search !== '' || url.hash !== '') {
      fail(`publicBaseUrl must be an https URL without query or fragment, got "${props.publicBaseUrl}"`);
    }
  }
  const limits = {
    sessionTtlSeconds: props.sessionTtlSeconds,
    throttleRateLimit: props.throttleRateLimit,
    throttleBurstLimit: props.throttleBurstLimit,
    'signInThrottle.rateLimit': props.signInThrottle?.rateLimit,
    'signInThrottle.burstLimit': props.signInThrottle?.burstLimit,
  };
  for (const [key, value] of Object.entries(limits)) {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      fail(`${key} must be a positive integer, got ${value}`);
    }
  }
  if (props.signInThrottle) {
    const rate = props.throttleRateLimit ?? DEFAULT_THROTTLE.rateLimit;
    const burst = props.throttleBurstLimit ?? DEFAULT_THROTTLE.burstLimit;
    if (props.signInThrottle.rateLimit > rate || props.signInThrottle.burstLimit > burst) {
      fail(`signInThrottle must not exceed the stage's throttle (${rate}/s, burst ${burst})`);
    }
  }
  const rate = props.metadataRefreshRate;
  if (rate !== undefined && !rate.isUnresolved()) {
    const minutes = rate.toSeconds({ integral: false }) / 60;
    if (!Number.isInteger(minutes) || minutes < 1) {
      fail(`metadataRefreshRate must be a whole number of minutes, at least one, got ${rate.toHumanString()}`);
    }
  }
  for (const origin of props.sessionCorsOrigins ?? []) {
    const url = parseUrl(origin);
    const local = url?.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1');
    if (url === undefined || (url.protocol !== 'https:' && !local) || url.origin !== origin) {
      fail(`sessionCorsOrigins must hold bare https origins like "https://app.example.com" (no path, no "*"), got "${origin}"`);
    }
  }
  const domainName = props.customDomain?.domainName;
  if (domainName !== undefined && !Token.isUnresolved(domainName) && !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domainName)) {
    fail(`customDomain.domainName must be a lowercase DNS name like "sso.example.com", got "${domainName}"`);
  }
  if (props.signer !== undefined && props.signer !== 'kms' && props.signer !== 'secret') {
    fail(`signer must be "kms" or "secret", got "${String(props.signer)}"`);
  }
  if (props.metricsNamespace !== undefined && !/^[A-Za-z0-9._/#:-]{1,255}$/.test(props.metricsNamespace)) {
    fail(`metricsNamespace must be a CloudWatch namespace, got "${props.metricsNamespace}"`);
  }
  if (props.serviceName !== undefined && !Token.isUnresolved(props.serviceName) && !/^[A-Za-z][A-Za-z0-9-]{0,62}$/.test(props.serviceName)) {
    fail(`serviceName must be letters, digits and hyphens, starting with a letter, got "${props.serviceName}"`);
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
