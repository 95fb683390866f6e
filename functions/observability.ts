import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { AuditEvent } from './core/model';
import type { Runtime } from './core/runtime';
import { DEFAULT_METRICS_NAMESPACE, METRIC, METRICS_SERVICE } from './metric-names';
import { ROUTES, routeKey } from './routes';

/**
 * Metrics as CloudWatch embedded metric format lines on stdout (no API call), and X-Ray tracing
 * through Powertools when `POWERTOOLS_TRACE_ENABLED` is `true` (the construct's `tracing` prop).
 * Each metric is flushed as it is counted (a single-metric line), so none waits for the end of
 * an invocation and none is lost when a handler throws.
 */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? METRICS_SERVICE,
});

/**
 * The X-Ray tracer when `POWERTOOLS_TRACE_ENABLED` is `true` (the construct's `tracing` prop),
 * else none. Imported only then: it brings the X-Ray SDK, about a ninth of a login function's
 * bundle, which the construct ships beside the bundle so that a function without tracing never
 * reads it (without active tracing there is no segment to add to).
 */
export const tracer: Tracer | undefined =
  process.env.POWERTOOLS_TRACE_ENABLED === 'true'
    ? await import('@aws-lambda-powertools/tracer').then((module) => {
        const { Tracer: TracerClass } = (module as { default?: typeof module }).default ?? module;
        return new TracerClass({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? METRICS_SERVICE, enabled: true });
      })
    : undefined;

/** The route keys whose outcome is a login's: the ACS and the OIDC callback. */
const LOGIN_ROUTE_KEYS = new Set(ROUTES.filter((route) => /\/(acs|callback)$/.test(route.path)).map(routeKey));

function count(name: string, dimensions: Readonly<Record<string, string>> = {}): void {
  const metric = metrics.singleMetric();
  for (const [key, value] of Object.entries(dimensions)) metric.addDimension(key, value);
  metric.addMetric(name, MetricUnit.Count, 1);
}

interface Observation {
  readonly startedAt: number;
  readonly end: () => void;
}

const observations = new WeakMap<APIGatewayProxyEventV2, Observation>();

/** Starts timing (and, when tracing, a subsegment for) one request; pair with {@link endRequest}. */
export function startRequest(event: APIGatewayProxyEventV2): void {
  const parent = tracer?.getSegment();
  const subsegment = parent?.addNewSubsegment(`## ${event.routeKey}`);
  if (subsegment) {
    tracer!.setSegment(subsegment);
    tracer!.putAnnotation('route', event.routeKey);
  }
  observations.set(event, {
    startedAt: performance.now(),
    end: () => {
      if (!subsegment || !parent) return;
      subsegment.close();
      tracer!.setSegment(parent);
    },
  });
}

/**
 * Ends a request started by {@link startRequest}: its latency by route, and for a login route the
 * login's outcome (succeeded, or refused by code) as a metric.
 * @returns the fields the request's last log line carries: `outcome` on a login route.
 */
export function endRequest(event: APIGatewayProxyEventV2, result: { readonly status: number; readonly code?: string }): Record<string, string> {
  const observation = observations.get(event);
  observations.delete(event);
  if (observation) {
    const latency = metrics.singleMetric();
    latency.addDimension('route', event.routeKey);
    latency.addMetric(METRIC.routeLatency, MetricUnit.Milliseconds, performance.now() - observation.startedAt);
    observation.end();
  }
  if (!LOGIN_ROUTE_KEYS.has(event.routeKey)) return {};
  if (result.code === undefined && result.status < 400) {
    count(METRIC.loginSucceeded);
    return { outcome: 'login.succeeded' };
  }
  const code = result.code ?? `status_${result.status}`;
  count(METRIC.loginRefused);
  count(METRIC.loginRefused, { code });
  return { outcome: code };
}

/**
 * Counts one SCIM operation, for the SCIM handler to call once per request.
 * @param operation e.g. `createUser`, `patchUser`, `deleteUser`, `listUsers`.
 * @param outcome `succeeded`, or the error code it was refused with.
 */
export function recordScimOperation(operation: string, outcome: string): void {
  count(METRIC.scimOperations, { operation, outcome });
}

/** The metric each audit event type counts as, for the events that are metrics too. */
const EVENT_METRICS: Readonly<Record<string, string>> = {
  'user.created': METRIC.usersCreated,
  'seat_limit.reached': METRIC.seatLimitRefusals,
  'certificate.expiring': METRIC.certificatesExpiring,
};

/**
 * The runtime a Lambda entry serves with: its log lines go through the Powertools logger (so
 * they carry the request id the middleware sets), and the audit events that are also metrics
 * (users created, seat-limit refusals, expiring certificates) are counted as they are published.
 */
export function instrumentRuntime<R extends Runtime>(runtime: R, logger: Logger): R {
  return {
    ...runtime,
    log: ({ level, message, ...fields }) => {
      const text = typeof message === 'string' ? message : 'log';
      if (level === 'ERROR') logger.error(text, fields);
      else if (level === 'WARN') logger.warn(text, fields);
      else if (level === 'DEBUG') logger.debug(text, fields);
      else logger.info(text, fields);
    },
    events: {
      ...runtime.events,
      publish: async (event: AuditEvent) => {
        const metric = EVENT_METRICS[event.type];
        if (metric) count(metric);
        await runtime.events.publish(event);
      },
    },
  };
}
