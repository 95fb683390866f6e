import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ATTACK_REFUSAL_CODES, METRIC, METRICS_SERVICE } from '../functions/metric-names';
import { TABLE_KEYS } from '../functions/core/table';
import { ROUTES, routeKey } from '../functions/routes';
import type { SsoFunction } from './sso-function';

const PERIOD = Duration.minutes(5);

/**
 * The alarm thresholds. Each is a judgment, written down so it can be argued with:
 * - 5xx: more than 5% of requests in two of three 5-minute periods (a dependency down, not a blip);
 * - refused logins that look like an attack (forged, replayed or misdirected responses, bad
 *   states): 50 in 5 minutes, far above an IdP misconfiguration's few;
 * - throttled requests: 10 in 5 minutes (a storm is meeting the limits, or someone is flooding);
 * - any Lambda error (the middleware answers every refusal, so an error is a crash or a timeout);
 * - a function's p99 duration above 80% of its timeout for 15 minutes;
 * - any DynamoDB throttle event;
 * - any IdP certificate within 30 days of expiry at the last metadata refresh.
 */
export const ALARM_THRESHOLDS = {
  serverErrorPercent: 5,
  attackRefusalsPer5Minutes: 50,
  throttledPer5Minutes: 10,
  durationShareOfTimeout: 0.8,
} as const;

/** Properties of {@link SsoMonitoring}. */
export interface SsoMonitoringProps {
  readonly api: HttpApi;
  /** The API's access log group: throttled requests (429) are counted from it. */
  readonly accessLogs: ILogGroup;
  readonly table: Table;
  /** The functions to watch, by a name used in alarm and widget titles. */
  readonly functions: Readonly<Record<string, SsoFunction>>;
  /** The namespace of the service's EMF metrics. */
  readonly metricsNamespace: string;
  /** How often the metadata refresh runs: the certificate alarm's period. */
  readonly metadataRefreshRate: Duration;
  /** @default - none: the alarms notify no one */
  readonly alarmTopic?: ITopic;
}

/**
 * The alarms and the dashboard of the service: API 5xx rate, a spike of refused logins that looks
 * like an attack, API throttling, Lambda errors and duration per function, DynamoDB throttles,
 * and an IdP certificate near expiry, each notifying `alarmTopic` (ALARM and OK) when given.
 */
export class SsoMonitoring extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

  private readonly props: SsoMonitoringProps;

  constructor(scope: Construct, id: string, props: SsoMonitoringProps) {
    super(scope, id);
    this.props = props;
    const { api, table } = props;

    const requests = api.metricCount({ period: PERIOD, statistic: 'Sum' });
    const serverErrors = api.metricServerError({ period: PERIOD, statistic: 'Sum' });
    const clientErrors = api.metricClientError({ period: PERIOD, statistic: 'Sum' });
    const serverErrorRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { requests, errors: serverErrors },
      label: '5xx, % of requests',
      period: PERIOD,
    });
    this.alarm('Api5xxRate', serverErrorRate, {
      threshold: ALARM_THRESHOLDS.serverErrorPercent,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      description: `More than ${ALARM_THRESHOLDS.serverErrorPercent}% of the SSO API's requests answered 5xx (service_unavailable, internal_error, or API Gateway's own) in two of three 5-minute periods.`,
    });

    const refusedByCode = Object.fromEntries(
      ATTACK_REFUSAL_CODES.map((code, index) => [`c${index}`, this.serviceMetric(METRIC.loginRefused, { code })]),
    );
    const attackRefusals = new MathExpression({
      expression: Object.keys(refusedByCode).map((name) => `FILL(${name}, 0)`).join(' + '),
      usingMetrics: refusedByCode,
      label: 'refused logins that look like an attack',
      period: PERIOD,
    });
    this.alarm('RefusedLoginSpike', attackRefusals, {
      threshold: ALARM_THRESHOLDS.attackRefusalsPer5Minutes,
      evaluationPeriods: 1,
      description: `At least ${ALARM_THRESHOLDS.attackRefusalsPer5Minutes} logins in 5 minutes were refused with ${ATTACK_REFUSAL_CODES.join(', ')}: forged, replayed or misdirected responses. The LoginRefused metric by code says which.`,
    });

    new MetricFilter(this, 'ThrottledRequests', {
      logGroup: props.accessLogs,
      filterPattern: FilterPattern.stringValue('$.status', '=', '429'),
      metricNamespace: props.metricsNamespace,
      metricName: METRIC.apiThrottled,
      metricValue: '1',
    });
    const throttled = new Metric({ namespace: props.metricsNamespace, metricName: METRIC.apiThrottled, statistic: 'Sum', period: PERIOD });
    this.alarm('ApiThrottling', throttled, {
      threshold: ALARM_THRESHOLDS.throttledPer5Minutes,
      evaluationPeriods: 1,
      description: `API Gateway answered 429 (throttled) at least ${ALARM_THRESHOLDS.throttledPer5Minutes} times in 5 minutes: a login storm meets the stage or sign-in limits, or someone floods the API.`,
    });

    const errors: IMetric[] = [];
    const durations: IMetric[] = [];
    for (const [name, fn] of Object.entries(props.functions)) {
      const title = name.charAt(0).toUpperCase() + name.slice(1);
      const fnErrors = fn.function.metricErrors({ period: PERIOD, statistic: 'Sum' });
      const fnDuration = fn.function.metricDuration({ period: PERIOD, statistic: 'p99' });
      errors.push(fnErrors.with({ label: `${name} errors` }));
      durations.push(fnDuration.with({ label: `${name} p99 duration` }));
      this.alarm(`${title}FunctionErrors`, fnErrors, {
        threshold: 1,
        evaluationPeriods: 1,
        description: `The ${name} function failed (an unhandled error, a crash or a timeout; refusals are answered, not errors).`,
      });
      const timeoutMs = fn.function.timeout?.toMilliseconds() ?? 3000;
      this.alarm(`${title}FunctionDuration`, fnDuration, {
        threshold: Math.round(timeoutMs * ALARM_THRESHOLDS.durationShareOfTimeout),
        evaluationPeriods: 3,
        description: `The ${name} function's p99 duration stayed above ${ALARM_THRESHOLDS.durationShareOfTimeout * 100}% of its ${timeoutMs / 1000} s timeout for 15 minutes.`,
      });
    }

    const tableThrottle = (metricName: string, index?: string) =>
      new Metric({
        namespace: 'AWS/DynamoDB',
        metricName,
        dimensionsMap: { TableName: table.tableName, ...(index ? { GlobalSecondaryIndexName: index } : {}) },
        statistic: 'Sum',
        period: PERIOD,
      });
    const dynamoThrottles = new MathExpression({
      expression: 'FILL(reads, 0) + FILL(writes, 0) + FILL(indexReads, 0) + FILL(indexWrites, 0)',
      usingMetrics: {
        reads: tableThrottle('ReadThrottleEvents'),
        writes: tableThrottle('WriteThrottleEvents'),
        indexReads: tableThrottle('ReadThrottleEvents', TABLE_KEYS.byTenantIndex),
        indexWrites: tableThrottle('WriteThrottleEvents', TABLE_KEYS.byTenantIndex),
      },
      label: 'DynamoDB throttle events',
      period: PERIOD,
    });
    this.alarm('DynamoDbThrottles', dynamoThrottles, {
      threshold: 1,
      evaluationPeriods: 1,
      description: 'DynamoDB throttled reads or writes of the table or its index (on-demand capacity doubling behind a sudden peak, or one hot item).',
    });

    const refreshSeconds = Math.min(Math.max(props.metadataRefreshRate.toSeconds(), 300), 86_400);
    const expiring = this.serviceMetric(METRIC.certificatesExpiring, {}, Duration.seconds(refreshSeconds), 'Sum');
    this.alarm('IdpCertificateExpiring', expiring, {
      threshold: 1,
      evaluationPeriods: 1,
      description: 'The metadata refresh found an IdP signing certificate that expires within 30 days (the certificate.expiring event names the connection).',
    });

    const logins = [this.serviceMetric(METRIC.loginSucceeded), this.serviceMetric(METRIC.loginRefused)];
    const provisioning = [this.serviceMetric(METRIC.usersCreated), this.serviceMetric(METRIC.seatLimitRefusals)];
    const latency = ROUTES.map((route) =>
      this.serviceMetric(METRIC.routeLatency, { route: routeKey(route) }, PERIOD, 'p99').with({ label: routeKey(route) }),
    );

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'API requests, 4xx, 5xx', left: [requests, clientErrors, serverErrors], width: 12 }),
      new GraphWidget({ title: 'API 5xx rate (%)', left: [serverErrorRate], width: 12 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Logins succeeded and refused', left: logins, width: 12 }),
      new GraphWidget({ title: 'Refused logins by attack-like code', left: Object.values(refusedByCode), width: 12 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Users created, seat-limit refusals', left: provisioning, width: 12 }),
      new GraphWidget({ title: 'API throttled (429)', left: [throttled], width: 12 }),
    );
    this.dashboard.addWidgets(new GraphWidget({ title: 'Handler latency by route, p99 (ms)', left: latency, width: 24 }));
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Lambda errors', left: errors, width: 12 }),
      new GraphWidget({ title: 'Lambda duration, p99 (ms)', left: durations, width: 12 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'DynamoDB throttle events', left: [dynamoThrottles], width: 12 }),
      new GraphWidget({ title: 'IdP certificates expiring within 30 days', left: [expiring], width: 12 }),
    );
  }

  private serviceMetric(metricName: string, dimensions: Readonly<Record<string, string>> = {}, period = PERIOD, statistic = 'Sum'): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName,
      dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
      statistic,
      period,
    });
  }

  private alarm(
    id: string,
    metric: IMetric,
    options: { threshold: number; evaluationPeriods: number; datapointsToAlarm?: number; description: string },
  ): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods,
      datapointsToAlarm: options.datapointsToAlarm,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    if (this.props.alarmTopic) {
      alarm.addAlarmAction(new SnsAction(this.props.alarmTopic));
      alarm.addOkAction(new SnsAction(this.props.alarmTopic));
    }
    this.alarms.push(alarm);
    return alarm;
  }
}
