import { Stack, type StackProps } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { EventBus } from 'aws-cdk-lib/aws-events';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { Schedule } from 'aws-cdk-lib/aws-scheduler';
import type { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { RouteGroup } from '../functions/routes';
import type { SsoFunction } from './sso-function';
import { SsoService, type SsoServiceProps, validateSsoServiceProps } from './sso-service';

/**
 * Properties of the {@link SsoStack}: a stack's, and the {@link SsoService}'s with the certificate
 * and the alarm topic named by ARN; `bin/app.ts` fills them from cdk.json context.
 */
export interface SsoStackProps extends StackProps, Omit<SsoServiceProps, 'customDomain' | 'alarmTopic'> {
  /**
   * A custom domain: its name and the ARN of its ACM certificate in the stack's region.
   *
   * @default - none
   */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };

  /**
   * The ARN of an SNS topic the alarms notify.
   *
   * @default - none
   */
  readonly alarmTopicArn?: string;
}

/**
 * A stack that holds one {@link SsoService} and nothing else: what `bin/app.ts` deploys. To run
 * the service inside your own stack, create an `SsoService` there instead.
 *
 * @throws Error starting `SsoStack: ` when a prop is invalid (see `validateSsoServiceProps`).
 */
export class SsoStack extends Stack {
  /** The service. */
  readonly service: SsoService;

  /** The table that holds every item of the service. */
  readonly table: Table;

  /** The KMS key that signs session tokens (`signer: 'kms'`, the default). */
  readonly signingKey?: Key;

  /** The secret that holds the session signing key (`signer: 'secret'`). */
  readonly signingSecret?: Secret;

  /** The HTTP API. */
  readonly api: HttpApi;

  /** The function of each route group. */
  readonly functions: Readonly<Record<RouteGroup, SsoFunction>>;

  /** The Secrets Manager name prefix under which the service's secrets live: `sso/<stackName>/`. */
  readonly secretsPrefix: string;

  /** The bus the service publishes its events to (`sso-<stackName>`). */
  readonly eventBus: EventBus;

  /** The function that refreshes SAML connections' IdP metadata. */
  readonly metadataRefreshFunction: SsoFunction;

  /** The schedule that invokes {@link metadataRefreshFunction}. */
  readonly metadataRefreshSchedule: Schedule;

  constructor(scope: Construct, id: string, props: SsoStackProps) {
    super(scope, id, props);
    const { customDomain, alarmTopicArn, ...serviceProps } = props;
    const resolved: SsoServiceProps = {
      ...serviceProps,
      customDomain: customDomain && {
        domainName: customDomain.domainName,
        certificate: Certificate.fromCertificateArn(this, 'Certificate', customDomain.certificateArn),
      },
      alarmTopic: alarmTopicArn === undefined ? undefined : Topic.fromTopicArn(this, 'AlarmTopic', alarmTopicArn),
    };
    validateSsoServiceProps(resolved, 'SsoStack');
    // The id "Default" leaves the construct out of logical ids, so the resources keep the ids
    // they had when the stack created them itself: no table or key is replaced by this refactor.
    this.service = new SsoService(this, 'Default', resolved);
    this.table = this.service.table;
    this.signingKey = this.service.signingKey;
    this.signingSecret = this.service.signingSecret;
    this.api = this.service.api;
    this.functions = this.service.functions;
    this.secretsPrefix = this.service.secretsPrefix;
    this.eventBus = this.service.eventBus;
    this.metadataRefreshFunction = this.service.metadataRefreshFunction;
    this.metadataRefreshSchedule = this.service.metadataRefreshSchedule;
  }
}
