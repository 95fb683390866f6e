import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { HttpApi, HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUrlIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ATTACK_REFUSAL_CODES, METRIC } from '../../functions/metric-names';
import { GROUP_ENTRIES, ROUTES, type Route, routeKey, routeThrottle } from '../../functions/routes';
import { createSessionAuthorizer } from '../../lib/session-authorizer';
import { SsoService, type SsoServiceProps } from '../../lib/sso-service';
import { SsoStack, type SsoStackProps } from '../../lib/sso-stack';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:111122223333:sso-alarms';
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111122223333:certificate/0b0e2f9c-1111-2222-3333-444455556666';

type Statement = Record<string, unknown>;

function synthStack(props: Partial<SsoStackProps> = {}): { stack: SsoStack; template: Template } {
  const stack = new SsoStack(new App({ context: NO_BUNDLING }), 'SsoTest', { sessionAudience: 'https://app.example.com', ...props });
  return { stack, template: Template.fromStack(stack) };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  if (!construct) throw new Error('no such construct');
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

function statementsOfRole(template: Template, roleId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) } });
  return Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

function actions(statements: Statement[]): string[] {
  return statements.flatMap((statement) => [statement.Action].flat() as string[]);
}

function nagFindings(stack: Stack): string[] {
  return new AwsSolutionsChecks().validateScope(stack).violations.map(
    (violation) => `${violation.severity} ${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
  );
}

type Alarm = { Properties: Record<string, unknown> };

function alarms(template: Template): Alarm[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Alarm[];
}

/** The alarm whose description starts with `prefix`. */
function alarmDescribed(template: Template, pattern: RegExp): Alarm {
  const found = alarms(template).filter((alarm) => pattern.test(String(alarm.Properties.AlarmDescription)));
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** The metrics of an alarm's metric-math query, as `namespace/name` with their dimensions. */
function queryMetrics(alarm: Alarm): Array<{ metric: string; dimensions: Record<string, unknown> }> {
  const queries = (alarm.Properties.Metrics ?? []) as Array<{ MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Array<{ Name: string; Value: unknown }> } } }>;
  return queries.flatMap((query) =>
    query.MetricStat
      ? [
          {
            metric: `${query.MetricStat.Metric.Namespace}/${query.MetricStat.Metric.MetricName}`,
            dimensions: Object.fromEntries((query.MetricStat.Metric.Dimensions ?? []).map((d) => [d.Name, d.Value])),
          },
        ]
      : [],
  );
}

describe('SsoService alarms and dashboard', () => {
  const { stack, template } = synthStack({ alarmTopicArn: TOPIC_ARN });

  it('alarms on the API 5xx rate, as a share of requests', () => {
    const alarm = alarmDescribed(template, /5xx/);
    expect(queryMetrics(alarm).map((m) => m.metric).sort()).toEqual(['AWS/ApiGateway/5xx', 'AWS/ApiGateway/Count']);
    expect(JSON.stringify(alarm.Properties.Metrics)).toContain('100 * errors / requests');
    expect(alarm.Properties).toMatchObject({ Threshold: 5, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
  });

  it('alarms on a spike of refused logins summed over the attack-like codes', () => {
    const alarm = alarmDescribed(template, /refused with/);
    const metrics = queryMetrics(alarm);
    expect(metrics.map((m) => m.dimensions.code).sort()).toEqual([...ATTACK_REFUSAL_CODES].sort());
    for (const metric of metrics) expect(metric).toMatchObject({ metric: `SsoService/${METRIC.loginRefused}`, dimensions: { service: 'sso' } });
  });

  it('counts 429s from the access log and alarms on them', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.status = "429" }',
      MetricTransformations: [{ MetricNamespace: 'SsoService', MetricName: METRIC.apiThrottled, MetricValue: '1' }],
    });
    expect(alarmDescribed(template, /429/).Properties).toMatchObject({ Namespace: 'SsoService', MetricName: METRIC.apiThrottled, Threshold: 10 });
  });

  it('alarms on the errors and the p99 duration of every function, against its own timeout', () => {
    const functions = { ...stack.functions, metadataRefresh: stack.metadataRefreshFunction };
    for (const [name, fn] of Object.entries(functions)) {
      const dimensions = [{ Name: 'FunctionName', Value: { Ref: logicalId(stack, fn.function) } }];
      const timeout = name === 'metadataRefresh' ? 60_000 : 10_000;
      const errors = alarms(template).filter((a) => a.Properties.MetricName === 'Errors' && JSON.stringify(a.Properties.Dimensions) === JSON.stringify(dimensions));
      const duration = alarms(template).filter((a) => a.Properties.MetricName === 'Duration' && JSON.stringify(a.Properties.Dimensions) === JSON.stringify(dimensions));
      expect({ name, errors: errors.map((a) => a.Properties.Threshold), duration: duration.map((a) => [a.Properties.ExtendedStatistic, a.Properties.Threshold]) }).toEqual({
        name,
        errors: [1],
        duration: [['p99', timeout * 0.8]],
      });
    }
  });

  it('alarms on DynamoDB throttle events of the table and its index', () => {
    const alarm = alarmDescribed(template, /DynamoDB throttled/);
    const table = { Ref: logicalId(stack, stack.table) };
    expect(queryMetrics(alarm)).toEqual(
      expect.arrayContaining([
        { metric: 'AWS/DynamoDB/ReadThrottleEvents', dimensions: { TableName: table } },
        { metric: 'AWS/DynamoDB/WriteThrottleEvents', dimensions: { TableName: table } },
        { metric: 'AWS/DynamoDB/WriteThrottleEvents', dimensions: { TableName: table, GlobalSecondaryIndexName: 'byTenant' } },
      ]),
    );
  });

  it('alarms on an IdP certificate near expiry, over the metadata refresh period', () => {
    expect(alarmDescribed(template, /certificate that expires/).Properties).toMatchObject({
      Namespace: 'SsoService',
      MetricName: METRIC.certificatesExpiring,
      Dimensions: [{ Name: 'service', Value: 'sso' }],
      Period: 6 * 60 * 60,
      Threshold: 1,
    });
  });

  it('sends every alarm, and its return to OK, to the alarm topic', () => {
    // Five service-wide alarms, and errors and duration for each route group's function and the metadata refresh.
    expect(alarms(template)).toHaveLength(5 + 2 * (Object.keys(GROUP_ENTRIES).length + 1));
    for (const alarm of alarms(template)) {
      expect(alarm.Properties).toMatchObject({ AlarmActions: [TOPIC_ARN], OKActions: [TOPIC_ARN], TreatMissingData: 'notBreaching' });
    }
  });

  it('notifies no one without a topic', () => {
    for (const alarm of alarms(synthStack().template)) expect(alarm.Properties.AlarmActions).toBeUndefined();
  });

  it('draws a dashboard of the same: the alarms, logins, refusals by code, latency by route, functions, throttles, certificates', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardBody);
    for (const text of [
      '"type\\":\\"alarm\\"',
      METRIC.loginSucceeded,
      METRIC.loginRefused,
      METRIC.usersCreated,
      METRIC.seatLimitRefusals,
      METRIC.apiThrottled,
      METRIC.certificatesExpiring,
      'WriteThrottleEvents',
      ...ATTACK_REFUSAL_CODES,
      ...ROUTES.map(routeKey),
    ]) {
      expect({ text, found: body.includes(text) }).toEqual({ text, found: true });
    }
  });
});

describe('SsoService routes', () => {
  const { stack, template } = synthStack({ signInThrottle: { rateLimit: 20, burstLimit: 40 } });

  it('throttles each login, ACS, callback and setup test login route on its own and keeps the stage-wide limit', () => {
    const signIn = ROUTES.filter((route) => /\/(login|acs|callback|test)$/.test(route.path));
    expect(signIn.map(routeKey).sort()).toEqual([
      'GET /login',
      'GET /oidc/{connectionId}/callback',
      'GET /oidc/{connectionId}/login',
      'GET /saml/{connectionId}/login',
      'GET /setup/{token}/oidc/test',
      'GET /setup/{token}/saml/test',
      'POST /saml/{connectionId}/acs',
    ]);
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0];
    expect(stage?.Properties.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 });
    expect(stage?.Properties.RouteSettings).toEqual(
      Object.fromEntries([...signIn, ...ROUTES.filter((route) => route.path.startsWith('/scim/'))].map((route) => [routeKey(route), { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 }])),
    );
  });

  it('creates the stage after the routes its settings name', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0];
    const routeIds = Object.keys(template.findResources('AWS::ApiGatewayV2::Route'));
    expect(stage?.DependsOn).toEqual(expect.arrayContaining(routeIds));
  });

  it('defaults the sign-in throttle to 50/s with a burst of 100, or the stage limits when lower', () => {
    const stageOf = (props: Partial<SsoStackProps>) => Object.values(synthStack(props).template.findResources('AWS::ApiGatewayV2::Stage'))[0];
    expect(stageOf({}).Properties.RouteSettings['POST /saml/{connectionId}/acs']).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(stageOf({ throttleRateLimit: 10, throttleBurstLimit: 20 }).Properties.RouteSettings['POST /saml/{connectionId}/acs']).toEqual({
      ThrottlingRateLimit: 10,
      ThrottlingBurstLimit: 20,
    });
  });

  it('gives SCIM routes the sign-in throttle by their path, whatever their group', () => {
    const scim = { method: 'POST', path: '/scim/v2/Users', group: 'session' } as Route;
    expect(routeThrottle(scim)).toBe('signIn');
    expect(routeThrottle({ method: 'GET', path: '/session', group: 'session' })).toBe('none');
    expect(routeThrottle({ method: 'GET', path: '/saml/{connectionId}/login', group: 'saml', throttle: 'none' })).toBe('none');
  });

  it('sends the $default route to the session function, which answers not_found', () => {
    const route = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).find((r) => r.Properties.RouteKey === '$default');
    const integrationId = (route?.Properties.Target['Fn::Join'][1] as unknown[]).find((part) => typeof part === 'object') as { Ref: string };
    const integration = template.toJSON().Resources[integrationId.Ref];
    expect(JSON.stringify(integration.Properties.IntegrationUri)).toContain(logicalId(stack, stack.functions.session.function));
  });

  it('serves the OpenID configuration a JWT authorizer reads', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /.well-known/openid-configuration' });
  });
});

describe('SsoService signer modes', () => {
  it('kms: a KMS key; the login functions may sign, the session and refresh functions may not', () => {
    const { stack, template } = synthStack({ signer: 'kms' });
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(actions(statementsOfRole(template, logicalId(stack, stack.functions.saml.role)))).toContain('kms:Sign');
    expect(actions(statementsOfRole(template, logicalId(stack, stack.functions.oidc.role)))).toContain('kms:Sign');
    expect(actions(statementsOfRole(template, logicalId(stack, stack.functions.session.role)))).not.toContain('kms:Sign');
    expect(actions(statementsOfRole(template, logicalId(stack, stack.metadataRefreshFunction.role)))).not.toContain('kms:Sign');
  });

  describe('secret', () => {
    const { stack, template } = synthStack({ signer: 'secret' });
    const secretRef = () => ({ Ref: logicalId(stack, stack.signingSecret) });

    it('keeps a generated seed in a retained secret under the prefix, and no KMS key', () => {
      template.resourceCountIs('AWS::KMS::Key', 0);
      template.hasResource('AWS::SecretsManager::Secret', {
        Properties: Match.objectLike({
          Name: 'sso/SsoTest/session-signing-key',
          GenerateSecretString: Match.objectLike({ PasswordLength: 64, ExcludePunctuation: true }),
        }),
        DeletionPolicy: 'Retain',
      });
    });

    it('grants kms:* to no function', () => {
      for (const role of Object.keys(template.findResources('AWS::IAM::Role'))) {
        expect(actions(statementsOfRole(template, role)).filter((action) => action.startsWith('kms:'))).toEqual([]);
      }
    });

    it('lets the session function read the signing secret alone, and the login functions the prefix', () => {
      const session = statementsOfRole(template, logicalId(stack, stack.functions.session.role)).filter((s) =>
        [s.Action].flat().some((action) => String(action).startsWith('secretsmanager:')),
      );
      expect(session).toEqual([expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: secretRef() })]);
      const saml = statementsOfRole(template, logicalId(stack, stack.functions.saml.role));
      expect(JSON.stringify(saml.filter((s) => s.Action === 'secretsmanager:GetSecretValue').map((s) => s.Resource))).toMatch(/:secret:sso\/SsoTest\/\*"/);
      const refresh = actions(statementsOfRole(template, logicalId(stack, stack.metadataRefreshFunction.role)));
      expect(refresh.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    });

    it('names the secret to the functions instead of a KMS key', () => {
      for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
        expect(fn.Properties.Environment.Variables.SIGNING_SECRET_NAMES).toBe('session-signing-key');
        expect(fn.Properties.Environment.Variables.SIGNING_KEY_IDS).toBeUndefined();
      }
    });

    it('is cdk-nag clean', () => {
      expect(nagFindings(stack)).toEqual([]);
    });
  });
});

describe('SsoService embedded in another CDK app', () => {
  function embed(props: Partial<SsoServiceProps> = {}) {
    const app = new App({ context: NO_BUNDLING });
    const stack = new Stack(app, 'SaasApp', { env: { account: '111122223333', region: 'eu-west-1' } });
    const sso = new SsoService(stack, 'Sso', {
      sessionAudience: 'https://app.example.com',
      customDomain: { domainName: 'sso.example.com', certificate: Certificate.fromCertificateArn(stack, 'Certificate', CERTIFICATE_ARN) },
      sessionCorsOrigins: ['https://app.example.com', 'http://localhost:3000'],
      alarmTopic: Topic.fromTopicArn(stack, 'Alarms', TOPIC_ARN),
      ...props,
    });
    // The SaaS backend's own API, protecting its route with the service's sessions.
    const backend = new HttpApi(stack, 'BackendApi');
    backend.addRoutes({
      path: '/orders',
      methods: [HttpMethod.GET],
      integration: new HttpUrlIntegration('Orders', 'https://orders.internal.example.com/orders'),
      authorizer: sso.sessionAuthorizer(),
    });
    return { app, stack, sso, template: Template.fromStack(stack) };
  }

  const embedded = embed();

  it('synthesizes in a fresh app, with the custom domain mapped to the API and its target as output', () => {
    const assembly = embedded.app.synth();
    expect(assembly.getStackByName('SaasApp').template.Resources).toBeDefined();
    const { template, stack, sso } = embedded;
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'sso.example.com',
      DomainNameConfigurations: [Match.objectLike({ CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL' })],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: logicalId(stack, sso.api) },
      DomainName: { Ref: logicalId(stack, sso.domainName) },
      Stage: '$default',
    });
    const outputs = Object.values(template.findOutputs('*'));
    expect(outputs).toEqual(expect.arrayContaining([expect.objectContaining({ Value: { 'Fn::GetAtt': [logicalId(stack, sso.domainName), 'RegionalDomainName'] } })]));
  });

  it('derives the public URL and issuer from the custom domain', () => {
    expect(embedded.sso.issuer).toBe('https://sso.example.com');
    embedded.template.allResourcesProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PUBLIC_BASE_URL: 'https://sso.example.com' }) },
    });
  });

  it('answers CORS for the given origins only, with credentials', () => {
    const api = embedded.template.toJSON().Resources[logicalId(embedded.stack, embedded.sso.api)];
    expect(api.Properties.CorsConfiguration).toEqual({
      AllowOrigins: ['https://app.example.com', 'http://localhost:3000'],
      AllowCredentials: true,
      AllowMethods: ['GET'],
      AllowHeaders: ['authorization'],
      MaxAge: 600,
    });
    const plain = synthStack().template.toJSON().Resources;
    for (const resource of Object.values(plain) as Array<{ Type: string; Properties: Record<string, unknown> }>) {
      if (resource.Type === 'AWS::ApiGatewayV2::Api') expect(resource.Properties.CorsConfiguration).toBeUndefined();
    }
  });

  it('protects a backend route with a JWT authorizer on the service issuer and audience', () => {
    const { template, stack } = embedded;
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://sso.example.com', Audience: ['https://app.example.com'] },
      ApiId: { Ref: stack.getLogicalId(stack.node.findChild('BackendApi').node.defaultChild as CfnElement) },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /orders', AuthorizationType: 'JWT' });
  });

  it('is cdk-nag clean apart from the backend API the test itself adds', () => {
    expect(nagFindings(embedded.stack).filter((finding) => !finding.includes('SaasApp/BackendApi'))).toEqual([]);
  });

  it.each([
    ['a wildcard CORS origin', { sessionCorsOrigins: ['*'] }, /sessionCorsOrigins/],
    ['a CORS origin with a path', { sessionCorsOrigins: ['https://app.example.com/app'] }, /sessionCorsOrigins/],
    ['a plain-http CORS origin', { sessionCorsOrigins: ['http://app.example.com'] }, /sessionCorsOrigins/],
    ['a domain name with a scheme', { customDomain: { domainName: 'https://sso.example.com', certificate: undefined as never } }, /customDomain\.domainName/],
    ['a sign-in throttle above the stage', { signInThrottle: { rateLimit: 500, burstLimit: 100 } }, /signInThrottle must not exceed/],
    ['a fractional sign-in burst', { signInThrottle: { rateLimit: 5, burstLimit: 1.5 } }, /signInThrottle\.burstLimit must be a positive integer/],
    ['an unknown signer', { signer: 'hsm' as never }, /signer must be "kms" or "secret"/],
    ['a service name with a slash', { serviceName: 'a/b' }, /serviceName/],
  ])('rejects %s before creating anything', (_name, props, message) => {
    expect(() => embed(props as Partial<SsoServiceProps>)).toThrow(new RegExp(`^SsoService: ${message.source}`));
  });
});

describe('createSessionAuthorizer', () => {
  it('refuses an issuer that is not https, and an empty audience', () => {
    expect(() => createSessionAuthorizer({ issuer: 'http://sso.example.com', audience: 'app' })).toThrow(/issuer must be an https URL/);
    expect(() => createSessionAuthorizer({ issuer: 'https://sso.example.com', audience: ' ' })).toThrow(/audience must not be empty/);
  });
});

describe('bin/app.ts', () => {
  function synthApp(context: Record<string, unknown>) {
    return spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ ...NO_BUNDLING, ...context }), CDK_OUTDIR: join(tmpdir(), `sso-app-test-${process.pid}`) },
      timeout: 120_000,
    });
  }

  it('without a required context key prints one line naming it and how to pass it, not a stack trace', () => {
    const result = synthApp({ stage: 'prod', stages: { prod: {} } });
    expect(result.status).toBe(1);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '' && !/ExperimentalWarning|NodeVersionSupportWarning|trace-warnings/.test(line));
    expect(lines).toEqual(['Context "sessionAudience" is required for stage "prod": pass -c sessionAudience=<front end identifier>, or set it under stages.prod in cdk.json']);
  }, 120_000);

  it('reports a malformed key the same way', () => {
    const result = synthApp({ stage: 'prod', stages: { prod: { sessionAudience: 'https://app.example.com', signer: 'hsm' } } });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Context "signer" must be "kms" or "secret", got "hsm"');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }, 120_000);
});
