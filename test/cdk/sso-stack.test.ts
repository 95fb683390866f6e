import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ROUTES, type RouteGroup, routeKey } from '../../functions/routes';
import { SsoFunction } from '../../lib/sso-function';
import { SsoStack, type SsoStackProps } from '../../lib/sso-stack';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STACK_NAME = 'SsoTest';

interface Synthesized {
  readonly stack: SsoStack;
  readonly template: Template;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: unknown }>;

/** Synthesizes the stack with bundling off: `aws:cdk:bundling-stacks` lists no stack to bundle. */
function synth(props: Partial<SsoStackProps> = {}): Synthesized {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new SsoStack(app, STACK_NAME, { sessionAudience: 'https://app.example.com', ...props });
  return { stack, template: Template.fromStack(stack) };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  if (!construct) throw new Error('the construct does not exist in this configuration');
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** A route group's function, or `metadataRefresh` for the scheduled one. */
type FunctionName = RouteGroup | 'metadataRefresh';

function functionOf(stack: SsoStack, name: FunctionName): SsoFunction {
  return name === 'metadataRefresh' ? stack.metadataRefreshFunction : stack.functions[name];
}

function functionPropertiesOf(synthesized: Synthesized, name: FunctionName): Record<string, unknown> {
  const id = logicalId(synthesized.stack, functionOf(synthesized.stack, name).function);
  return synthesized.template.toJSON().Resources[id].Properties;
}

function policyStatementsOf(synthesized: Synthesized, name: FunctionName): Array<Record<string, unknown>> {
  const roleId = logicalId(synthesized.stack, functionOf(synthesized.stack, name).role);
  const policies = synthesized.template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap(
    (policy) => (policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>),
  );
}

function actionsOf(synthesized: Synthesized, name: FunctionName): string[] {
  return policyStatementsOf(synthesized, name).flatMap((statement) => [statement.Action].flat() as string[]);
}

/** Every logical id a value references through Ref or Fn::GetAtt. */
function referencedIds(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(referencedIds);
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  if (typeof record.Ref === 'string') return [record.Ref];
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return [getAtt[0]];
  return Object.values(record).flatMap(referencedIds);
}

function findCycle(resources: Resources): string[] | undefined {
  const edges = new Map<string, string[]>();
  for (const [id, resource] of Object.entries(resources)) {
    const dependsOn = [resource.DependsOn ?? []].flat() as string[];
    edges.set(id, [...referencedIds(resource.Properties), ...dependsOn].filter((target) => target in resources));
  }
  const done = new Set<string>();
  const visit = (id: string, path: string[]): string[] | undefined => {
    if (path.includes(id)) return [...path, id];
    if (done.has(id)) return undefined;
    for (const target of edges.get(id) ?? []) {
      const cycle = visit(target, [...path, id]);
      if (cycle) return cycle;
    }
    done.add(id);
    return undefined;
  };
  for (const id of edges.keys()) {
    const cycle = visit(id, []);
    if (cycle) return cycle;
  }
  return undefined;
}

function nagFindings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations.map(
    (violation) =>
      `${violation.severity} ${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
  );
}

describe('SsoStack', () => {
  let synthesized: Synthesized;
  let template: Template;

  beforeAll(() => {
    synthesized = synth();
    template = synthesized.template;
  });

  describe('table', () => {
    it('is on-demand, keyed pk/sk, expires items on expiresAt and keeps point-in-time recovery', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', 1);
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
    });

    it('has the byTenant index on gsi1pk/gsi1sk projecting all attributes', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
        ]),
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byTenant',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      });
    });

    it('is retained when the stack is deleted, unless told otherwise', () => {
      template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      synth({ tableRemovalPolicy: RemovalPolicy.DESTROY }).template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Delete',
      });
    });
  });

  describe('signing key', () => {
    it('is a retained P-256 signing key with an alias', () => {
      template.hasResource('AWS::KMS::Key', {
        Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
      template.hasResourceProperties('AWS::KMS::Alias', {
        AliasName: `alias/sso/${STACK_NAME}/session-signing`,
      });
    });
  });

  describe('HTTP API', () => {
    it('has one route per entry of ROUTES, the $default route, and no other', () => {
      template.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length + 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
      for (const route of ROUTES) {
        template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: routeKey(route) });
      }
    });

    it('sends each route to the function of its group', () => {
      const { stack } = synthesized;
      const routes = template.findResources('AWS::ApiGatewayV2::Route');
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
      for (const route of ROUTES) {
        const resource = Object.values(routes).find((r) => r.Properties.RouteKey === routeKey(route));
        const [integrationId] = referencedIds(resource?.Properties.Target);
        const integration = integrations[integrationId];
        expect(integration?.Properties.IntegrationType).toBe('AWS_PROXY');
        expect(referencedIds(integration?.Properties.IntegrationUri)).toEqual([
          logicalId(stack, stack.functions[route.group].function),
        ]);
      }
    });

    it('logs access to a log group and throttles the default stage', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
          Format: Match.stringLikeRegexp('\\$context\\.requestId'),
        },
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      });
    });

    it('never writes query strings (OIDC codes, SAML requests) to the access log', () => {
      const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0];
      expect(stage?.Properties.AccessLogSettings.Format).not.toMatch(/querystring|rawPath|\$request/i);
    });
  });

  describe('functions', () => {
    it('creates one function per route group and the metadata-refresh function', () => {
      template.resourceCountIs('AWS::Lambda::Function', new Set(ROUTES.map((route) => route.group)).size + 1);
    });

    it('runs every function on Node.js 22, arm64, logging JSON to its own log group', () => {
      template.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 1024,
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: Match.anyValue() } },
      });
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('gives the route functions 10 s, within the HTTP API integration limit', () => {
      for (const group of ['saml', 'oidc', 'session', 'scim'] as const) {
        expect(functionPropertiesOf(synthesized, group).Timeout).toBe(10);
      }
    });

    it('gives every function exactly the configuration variables, none holding a secret', () => {
      const { stack } = synthesized;
      const base = {
        TABLE_NAME: { Ref: logicalId(stack, stack.table) },
        PUBLIC_BASE_URL: { 'Fn::GetAtt': [logicalId(stack, stack.api), 'ApiEndpoint'] },
        SESSION_AUDIENCE: 'https://app.example.com',
        SESSION_TTL_SECONDS: '28800',
        SIGNING_KEY_IDS: { 'Fn::GetAtt': [logicalId(stack, stack.signingKey), 'Arn'] },
        POWERTOOLS_SERVICE_NAME: 'sso',
        NODE_OPTIONS: '--enable-source-maps',
      };
      const secretsPrefix = { SECRETS_PREFIX: `sso/${STACK_NAME}/` };
      const eventBus = { EVENT_BUS_NAME: { Ref: logicalId(stack, stack.eventBus) } };
      const expected: Record<FunctionName, Record<string, unknown>> = {
        session: { ...base, ...secretsPrefix },
        saml: { ...base, ...secretsPrefix, ...eventBus },
        oidc: { ...base, ...secretsPrefix, ...eventBus },
        metadataRefresh: { ...base, ...eventBus },
        scim: { ...base, ...eventBus },
        setup: { ...base, ...secretsPrefix, ...eventBus },
      };
      for (const [name, variables] of Object.entries(expected)) {
        const environment = functionPropertiesOf(synthesized, name as FunctionName).Environment as { Variables: unknown };
        expect({ name, variables: environment.Variables }).toEqual({ name, variables });
      }
    });

    it('uses publicBaseUrl and sessionTtlSeconds when given', () => {
      synth({ publicBaseUrl: 'https://sso.example.com', sessionTtlSeconds: 3600 }).template.allResourcesProperties(
        'AWS::Lambda::Function',
        {
          Environment: {
            Variables: Match.objectLike({ PUBLIC_BASE_URL: 'https://sso.example.com', SESSION_TTL_SECONDS: '3600' }),
          },
        },
      );
    });
  });

  describe('least privilege', () => {
    it('attaches no managed policy to any role', () => {
      for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });

    it('lets the session function read the public key but never sign or read secrets', () => {
      const actions = actionsOf(synthesized, 'session');
      expect(actions).toContain('kms:GetPublicKey');
      expect(actions).toContain('dynamodb:PutItem');
      expect(actions).not.toContain('kms:Sign');
      expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    });

    it('lets the saml function sign and read only the secrets under the stack prefix', () => {
      const statements = policyStatementsOf(synthesized, 'saml');
      const actions = actionsOf(synthesized, 'saml');
      expect(actions).toEqual(expect.arrayContaining(['kms:Sign', 'kms:GetPublicKey', 'dynamodb:PutItem']));
      const secrets = statements.filter((statement) => [statement.Action].flat().includes('secretsmanager:GetSecretValue'));
      expect(secrets).toHaveLength(1);
      expect(secrets[0]?.Action).toBe('secretsmanager:GetSecretValue');
      expect(JSON.stringify(secrets[0]?.Resource)).toMatch(new RegExp(`:secret:sso/${STACK_NAME}/\\*"`));
    });

    it('lets the metadata-refresh function read the public key but never sign or read secrets', () => {
      const actions = actionsOf(synthesized, 'metadataRefresh');
      expect(actions).toEqual(expect.arrayContaining(['kms:GetPublicKey', 'dynamodb:UpdateItem', 'events:PutEvents']));
      expect(actions).not.toContain('kms:Sign');
      expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    });

    it('lets the scim function write the table and publish events, but never use the signing key or read secrets', () => {
      const actions = actionsOf(synthesized, 'scim');
      expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'events:PutEvents']));
      expect(actions.filter((action) => action.startsWith('kms:') || action.startsWith('secretsmanager:'))).toEqual([]);
    });

    it('lets the setup function write the table, publish events and store setup secrets, but never use the signing key or read a secret', () => {
      const actions = actionsOf(synthesized, 'setup');
      expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'events:PutEvents', 'secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue']));
      expect(actions.filter((action) => action.startsWith('kms:') || action === 'secretsmanager:GetSecretValue')).toEqual([]);
      const secretResources = policyStatementsOf(synthesized, 'setup')
        .filter((statement) => JSON.stringify(statement.Action).includes('secretsmanager:'))
        .map((statement) => JSON.stringify(statement.Resource));
      expect(secretResources).toEqual([expect.stringContaining(`sso/${STACK_NAME}/setup/*`)]);
    });

    it('grants KMS actions on the signing key alone', () => {
      const { stack } = synthesized;
      for (const group of ['saml', 'oidc', 'session', 'metadataRefresh'] as const) {
        for (const statement of policyStatementsOf(synthesized, group)) {
          if (![statement.Action].flat().some((action) => String(action).startsWith('kms:'))) continue;
          expect(statement.Resource).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.signingKey), 'Arn'] });
        }
      }
    });
  });

  /*
   * The bus carries the service's events, source `sso`, detail-type the event name: user.created,
   * user.updated, user.linked, user.deactivated, login.succeeded, login.refused (SAML and OIDC
   * login functions), seat_limit.reached (login functions), certificate.expiring (metadata refresh).
   */
  describe('event bus', () => {
    it('is a custom bus named after the stack', () => {
      template.resourceCountIs('AWS::Events::EventBus', 1);
      template.hasResourceProperties('AWS::Events::EventBus', { Name: `sso-${STACK_NAME}` });
    });

    it('lets the login and metadata-refresh functions put events on this bus alone', () => {
      const busArn = { 'Fn::GetAtt': [logicalId(synthesized.stack, synthesized.stack.eventBus), 'Arn'] };
      for (const name of ['saml', 'oidc', 'metadataRefresh'] as const) {
        const statements = policyStatementsOf(synthesized, name).filter((statement) =>
          [statement.Action].flat().some((action) => String(action).startsWith('events:')),
        );
        expect({ name, statements }).toEqual({
          name,
          statements: [expect.objectContaining({ Action: 'events:PutEvents', Effect: 'Allow', Resource: busArn })],
        });
      }
    });

    it('gives the session function, which publishes nothing, no events permission', () => {
      expect(actionsOf(synthesized, 'session').filter((action) => action.startsWith('events:'))).toEqual([]);
    });
  });

  describe('metadata refresh', () => {
    it('runs on Node.js 22, arm64, with 60 s to fetch every connection\'s metadata', () => {
      expect(functionPropertiesOf(synthesized, 'metadataRefresh')).toEqual(
        expect.objectContaining({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 60 }),
      );
    });

    it('is invoked by a schedule every 6 hours by default', () => {
      const { stack } = synthesized;
      template.resourceCountIs('AWS::Scheduler::Schedule', 1);
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'rate(6 hours)',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': [logicalId(stack, stack.metadataRefreshFunction.function), 'Arn'] },
          RoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
          RetryPolicy: Match.objectLike({ MaximumEventAgeInSeconds: 6 * 60 * 60 }),
        },
      });
    });

    it('runs at the metadataRefreshRate when given', () => {
      synth({ metadataRefreshRate: Duration.minutes(30) }).template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'rate(30 minutes)',
        Target: Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumEventAgeInSeconds: 30 * 60 }) }),
      });
    });

    it('invokes through a role that only Scheduler of this account may assume and that may invoke this function alone', () => {
      const { stack } = synthesized;
      const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule'))[0];
      const [roleId] = referencedIds(schedule?.Properties.Target.RoleArn);
      const role = template.toJSON().Resources[roleId as string];
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': expect.anything() } },
        }),
      ]);
      const policies = Object.values(
        template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
      );
      const statements = policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
      expect(statements.map((statement) => statement.Action)).toEqual(['lambda:InvokeFunction']);
      expect(new Set(referencedIds(statements[0]?.Resource))).toEqual(
        new Set([logicalId(stack, stack.metadataRefreshFunction.function)]),
      );
    });
  });

  it('outputs the API URL, the table name, the signing key ARN and the event bus', () => {
    const { stack } = synthesized;
    template.hasOutput('ApiUrl', {});
    template.hasOutput('TableName', { Value: { Ref: logicalId(stack, stack.table) } });
    template.hasOutput('SigningKeyArn', {});
    template.hasOutput('EventBusName', { Value: { Ref: logicalId(stack, stack.eventBus) } });
    template.hasOutput('EventBusArn', { Value: { 'Fn::GetAtt': [logicalId(stack, stack.eventBus), 'Arn'] } });
  });

  it('has no circular dependency between resources', () => {
    expect(findCycle(template.toJSON().Resources as Resources)).toBeUndefined();
  });

  describe('cdk-nag AwsSolutions', () => {
    it('reports no unacknowledged error or warning', () => {
      expect(nagFindings(synthesized.stack)).toEqual([]);
    });

    it('reports none with tracing on either', () => {
      expect(nagFindings(synth({ tracing: true }).stack)).toEqual([]);
    });
  });

  describe('props', () => {
    it.each([
      ['an empty sessionAudience', { sessionAudience: ' ' }],
      ['a plain-http publicBaseUrl', { publicBaseUrl: 'http://sso.example.com' }],
      ['a publicBaseUrl that is no URL', { publicBaseUrl: 'sso.example.com' }],
      ['a zero sessionTtlSeconds', { sessionTtlSeconds: 0 }],
      ['a fractional throttleRateLimit', { throttleRateLimit: 1.5 }],
      ['a metadataRefreshRate under a minute', { metadataRefreshRate: Duration.seconds(30) }],
      ['a metadataRefreshRate of no whole minutes', { metadataRefreshRate: Duration.seconds(90) }],
    ])('rejects %s', (_name, props) => {
      expect(() => synth(props)).toThrow(/SsoStack: /);
    });
  });
});

describe('SsoFunction', () => {
  function create(props: { memorySize?: number; timeout?: Duration; servesHttpApi?: boolean }): void {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'FunctionTest');
    new SsoFunction(stack, 'Fn', { entry: 'functions/session.ts', projectRoot: PROJECT_ROOT, ...props });
  }

  it.each([127, 10_241, 1000.5])('rejects memorySize %p', (memorySize) => {
    expect(() => create({ memorySize })).toThrow(/memorySize must be an integer from 128 to 10240/);
  });

  it.each([Duration.seconds(0), Duration.seconds(31), Duration.millis(1500)])('rejects timeout %s', (timeout) => {
    expect(() => create({ timeout })).toThrow(/timeout must be a whole number of seconds from 1 to 30/);
  });

  it('accepts the limits themselves', () => {
    expect(() => create({ memorySize: 128, timeout: Duration.seconds(30) })).not.toThrow();
  });

  it.each([Duration.seconds(0), Duration.seconds(901)])('rejects timeout %s for an asynchronous function', (timeout) => {
    expect(() => create({ timeout, servesHttpApi: false })).toThrow(/timeout must be a whole number of seconds from 1 to 900/);
  });

  it('accepts up to 900 s for a function that serves no HTTP API route', () => {
    expect(() => create({ timeout: Duration.seconds(900), servesHttpApi: false })).not.toThrow();
  });
});
