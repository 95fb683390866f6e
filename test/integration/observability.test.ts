import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { METRIC } from '../../functions/metric-names';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, invoke, postAcs, problemCode, responseFor, testRuntime } from '../support/harness';

// The suite's environment disables metrics (they would bury its output); these tests read them,
// so they load the modules that create the Metrics instance only after turning them back on.
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
const { logger } = await import('../../functions/http');
const { instrumentRuntime, recordScimOperation } = await import('../../functions/observability');
const { createSamlHandler } = await import('../../functions/saml');

type Line = Record<string, unknown>;

/** Every JSON line written to stdout while `run` runs (the logger's lines and EMF metrics alike). */
async function captureStdout(run: () => Promise<unknown>): Promise<Line[]> {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stdout.write;
  try {
    await run();
  } finally {
    process.stdout.write = write;
  }
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as Line);
}

interface EmfMetric {
  readonly name: string;
  readonly dimensions: Record<string, unknown>;
}

/** The metrics of the EMF lines: name and dimension values, from the `_aws` directive. */
function emfMetrics(lines: Line[]): EmfMetric[] {
  return lines.flatMap((line) => {
    const aws = line._aws as { CloudWatchMetrics?: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } | undefined;
    return (aws?.CloudWatchMetrics ?? []).flatMap((directive) =>
      directive.Metrics.map((metric) => ({
        name: metric.Name,
        dimensions: Object.fromEntries(directive.Dimensions.flat().map((dimension) => [dimension, line[dimension]])),
      })),
    );
  });
}

async function instrumented(tenant: { seatLimit?: number } = {}) {
  const runtime = instrumentRuntime(await testRuntime(), logger);
  const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, tenant);
  return { runtime, connection, handler: createSamlHandler(runtime) };
}

describe('observability', () => {
  // The suite's environment logs errors only; these tests read the INFO lines a deployment writes.
  let level: ReturnType<typeof logger.getLevelName>;
  beforeAll(() => {
    level = logger.getLevelName();
    logger.setLogLevel('INFO');
  });
  afterAll(() => logger.setLogLevel(level));

  it('counts a login that succeeded, the user it created, and latency by route, as EMF metrics with no API call', async () => {
    const { runtime, connection, handler } = await instrumented();
    const response = await issueSamlResponse(responseFor(connection, runtime, { nameId: `metrics-${randomUUID()}@example.test` }));
    const lines = await captureStdout(async () => expect((await postAcs(handler, connection.id, response)).statusCode).toBe(303));
    const metrics = emfMetrics(lines);
    expect(metrics).toEqual(
      expect.arrayContaining([
        { name: METRIC.loginSucceeded, dimensions: { service: 'sso' } },
        { name: METRIC.usersCreated, dimensions: { service: 'sso' } },
        { name: METRIC.routeLatency, dimensions: { service: 'sso', route: 'POST /saml/{connectionId}/acs' } },
      ]),
    );
    expect(metrics.filter((metric) => metric.name === METRIC.loginRefused)).toEqual([]);
  });

  it('counts a refused login in total and by its code, and ends the request log with that outcome', async () => {
    const { runtime, connection, handler } = await instrumented();
    const response = await issueSamlResponse(responseFor(connection, runtime));
    await captureStdout(() => postAcs(handler, connection.id, response));
    let refused: Awaited<ReturnType<typeof postAcs>> | undefined;
    const lines = await captureStdout(async () => {
      refused = await postAcs(handler, connection.id, response);
    });
    expect(problemCode(refused!)).toBe('saml_replay');
    expect(emfMetrics(lines)).toEqual(
      expect.arrayContaining([
        { name: METRIC.loginRefused, dimensions: { service: 'sso' } },
        { name: METRIC.loginRefused, dimensions: { service: 'sso', code: 'saml_replay' } },
      ]),
    );
    const logLines = lines.filter((line) => line._aws === undefined);
    expect(logLines.at(-1)).toMatchObject({ message: 'request refused', code: 'saml_replay', outcome: 'saml_replay' });
  });

  it('puts the request id on every log line of a request, the audit lines included, and the outcome on the last', async () => {
    const { runtime, connection, handler } = await instrumented();
    const response = await issueSamlResponse(responseFor(connection, runtime, { nameId: `ids-${randomUUID()}@example.test` }));
    const lines = await captureStdout(() => postAcs(handler, connection.id, response));
    const logLines = lines.filter((line) => line._aws === undefined);
    expect(logLines.map((line) => line.message)).toEqual(expect.arrayContaining(['audit', 'request']));
    const ids = new Set(logLines.map((line) => line.requestId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    expect(logLines.at(-1)).toMatchObject({ message: 'request', status: 303, outcome: 'login.succeeded' });
  });

  it('counts a seat-limit refusal', async () => {
    const { runtime, connection, handler } = await instrumented({ seatLimit: 0 });
    const response = await issueSamlResponse(responseFor(connection, runtime, { nameId: `seat-${randomUUID()}@example.test` }));
    let result: Awaited<ReturnType<typeof postAcs>> | undefined;
    const lines = await captureStdout(async () => {
      result = await postAcs(handler, connection.id, response);
    });
    expect(problemCode(result!)).toBe('seat_limit_reached');
    expect(emfMetrics(lines)).toEqual(
      expect.arrayContaining([
        { name: METRIC.seatLimitRefusals, dimensions: { service: 'sso' } },
        { name: METRIC.loginRefused, dimensions: { service: 'sso', code: 'seat_limit_reached' } },
      ]),
    );
  });

  it('exports a SCIM operation counter by operation and outcome', async () => {
    const lines = await captureStdout(async () => recordScimOperation('createUser', 'succeeded'));
    expect(emfMetrics(lines)).toEqual([{ name: METRIC.scimOperations, dimensions: { service: 'sso', operation: 'createUser', outcome: 'succeeded' } }]);
  });

  it('lets no samlify console line through on SP-initiated login and metadata', async () => {
    const { connection, handler } = await instrumented();
    const consoleLines: unknown[][] = [];
    const { warn, error } = console;
    console.warn = (...args: unknown[]) => consoleLines.push(args);
    console.error = (...args: unknown[]) => consoleLines.push(args);
    try {
      const lines = await captureStdout(async () => {
        expect((await invoke(handler, { method: 'GET', url: `/saml/${connection.id}/login` })).statusCode).toBe(302);
        expect((await invoke(handler, { method: 'GET', url: `/saml/${connection.id}/metadata` })).statusCode).toBe(200);
      });
      expect(consoleLines).toEqual([]);
      expect(lines.filter((line) => line.message === 'samlify')).toEqual([]);
    } finally {
      Object.assign(console, { warn, error });
    }
  });

  it('loads the X-Ray tracer only when tracing is on, so a function without it never reads the X-Ray SDK', () => {
    const tracerOf = (enabled: string) => {
      const run = spawnSync(
        'node_modules/.bin/tsx',
        ['-e', "import('./functions/observability.ts').then(({ tracer }) => console.log(JSON.stringify({ tracer: tracer?.constructor.name ?? null })))"],
        { env: { ...process.env, POWERTOOLS_TRACE_ENABLED: enabled }, encoding: 'utf8' },
      );
      return JSON.parse(run.stdout.trim().split('\n').pop()!) as { tracer: string | null };
    };
    expect({ on: tracerOf('true'), off: tracerOf('false') }).toEqual({ on: { tracer: 'Tracer' }, off: { tracer: null } });
  });
});
