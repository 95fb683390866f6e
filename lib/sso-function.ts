import { join } from 'node:path';
import { Duration, Token, Validations } from 'aws-cdk-lib';
import { type IGrantable, type IPrincipal, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The smallest and largest memory Lambda accepts, in MB. */
const MEMORY_LIMITS_MB = { min: 128, max: 10_240 } as const;

/**
 * The longest timeout of each kind of function, in seconds. API Gateway HTTP APIs give up on an
 * integration after 30 s, so a longer timeout behind the API buys nothing; a function invoked
 * asynchronously may run up to Lambda's own limit.
 */
const MAX_TIMEOUT_SECONDS = { httpApi: 30, asynchronous: 900 } as const;

/** Lets an ESM bundle load the CommonJS dependencies esbuild inlines (they call `require`). */
const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * Modules shipped beside the bundle, in the asset's `node_modules`, rather than inlined in it:
 * libxml2-wasm, whose module is its wasm as a 1 MB string (copied as installed, with no
 * dependencies); samlify, which only the routes that build AuthnRequests and metadata import,
 * on first use; and the Powertools tracer with the X-Ray SDK, which a function imports only when
 * its tracing is on. The last two are each bundled on their own, so a function that does not use
 * them never reads them. The same shell commands serve
 * `scripts/measure-cold-start.ts`, so what it measures is what is deployed.
 */
export const BESIDE_THE_BUNDLE = ['libxml2-wasm', 'samlify', '@aws-lambda-powertools/tracer'] as const;

/** The shell commands that put {@link BESIDE_THE_BUNDLE} in `outputDir/node_modules` (CDK's afterBundling hook). */
export function besideTheBundle(inputDir: string, outputDir: string): string[] {
  const modules = `"${outputDir}/node_modules"`;
  return [
    `mkdir -p ${modules}/samlify`,
    `cp -R "${inputDir}/node_modules/libxml2-wasm" ${modules}/libxml2-wasm`,
    `"${inputDir}/node_modules/.bin/esbuild" "${inputDir}/node_modules/samlify/build/index.js" --bundle --platform=node --target=node22 --format=cjs --minify --log-level=error --outfile=${modules}/samlify/index.js`,
    `echo '{"name":"samlify","main":"index.js"}' > ${modules}/samlify/package.json`,
    `mkdir -p ${modules}/@aws-lambda-powertools/tracer`,
    `"${inputDir}/node_modules/.bin/esbuild" "${inputDir}/node_modules/@aws-lambda-powertools/tracer/lib/cjs/index.js" --bundle --platform=node --target=node22 --format=cjs --minify --log-level=error --outfile=${modules}/@aws-lambda-powertools/tracer/index.js`,
    `echo '{"name":"@aws-lambda-powertools/tracer","main":"index.js"}' > ${modules}/@aws-lambda-powertools/tracer/package.json`,
  ];
}

/**
 * The esbuild options of every function's bundle, in esbuild's own terms: what the construct
 * hands NodejsFunction below (ESM for Node 22, module/main fields, the require banner, minified,
 * source maps without sources, {@link BESIDE_THE_BUNDLE} left out), and what `npm run bench` and
 * `scripts/measure-cold-start.ts` build with, so that they measure what is deployed.
 */
export const SSO_ESBUILD = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  mainFields: ['module', 'main'],
  banner: { js: ESM_REQUIRE_BANNER },
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  external: BESIDE_THE_BUNDLE,
} as const;

/** Properties of an {@link SsoFunction}. */
export interface SsoFunctionProps {
  /** The handler's entry file, absolute or relative to `projectRoot`; it exports `handler`. */
  readonly entry: string;

  /** The repository root: holds `package-lock.json` and is the root esbuild bundles from. */
  readonly projectRoot: string;

  /**
   * Environment variables of the function. Never secret values: secrets are read from
   * Secrets Manager at cold start.
   *
   * @default - no variables besides `NODE_OPTIONS`
   */
  readonly environment?: Readonly<Record<string, string>>;

  /**
   * Memory in MB, an integer from 128 to 10240. CPU scales with it, so it also sets how fast
   * XML signature checks and cold starts run.
   *
   * @default 1024
   */
  readonly memorySize?: number;

  /**
   * How long one invocation may run, in whole seconds: from 1 to 30 (the HTTP API's integration
   * limit) for a function that serves HTTP API routes, from 1 to 900 (Lambda's limit) otherwise.
   *
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;

  /**
   * Whether the function serves HTTP API routes, which caps its `timeout` at 30 seconds. Set it
   * to false for a function invoked asynchronously, such as by a schedule.
   *
   * @default true
   */
  readonly servesHttpApi?: boolean;

  /**
   * Whether to send traces to AWS X-Ray (active tracing).
   *
   * @default false
   */
  readonly tracing?: boolean;

  /**
   * How long the function's log group keeps its events.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;

  /**
   * A description of the function.
   *
   * @default - none
   */
  readonly description?: string;
}

/**
 * The one Lambda construct of the service: a Node.js 22 arm64 function bundled locally by esbuild
 * into a minified ESM file with source maps, logging JSON to its own log group with a retention,
 * running under a role that may write that log group and nothing else until granted more.
 *
 * Grant to the construct itself (`table.grantReadWriteData(fn)`): it is the function's principal.
 *
 * @throws Error when `memorySize` or `timeout` is out of range (`timeout` up to 30 s behind the
 * HTTP API, up to 900 s for a function invoked asynchronously).
 */
export class SsoFunction extends Construct implements IGrantable {
  /** The Lambda function. */
  readonly function: NodejsFunction;

  /** The log group the function writes to. */
  readonly logGroup: LogGroup;

  /** The function's execution role. */
  readonly role: Role;

  /** The principal grants go to: the function's role. */
  readonly grantPrincipal: IPrincipal;

  constructor(scope: Construct, id: string, props: SsoFunctionProps) {
    super(scope, id);
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? Duration.seconds(10);
    validateMemorySize(memorySize);
    validateTimeout(timeout, props.servesHttpApi ?? true);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });

    // An own role instead of AWSLambdaBasicExecutionRole, whose log permissions cover every log group.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(props.projectRoot, props.entry),
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        ...props.environment,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: SSO_ESBUILD.target,
        mainFields: [...SSO_ESBUILD.mainFields],
        banner: SSO_ESBUILD.banner.js,
        minify: SSO_ESBUILD.minify,
        sourceMap: SSO_ESBUILD.sourcemap,
        sourcesContent: SSO_ESBUILD.sourcesContent,
        // The AWS SDK is bundled too: the version the tests ran against is the one deployed,
        // rather than whichever version the Lambda runtime ships that month.
        externalModules: [...SSO_ESBUILD.external],
        commandHooks: { beforeBundling: () => [], beforeInstall: () => [], afterBundling: besideTheBundle },
      },
    });
    this.grantPrincipal = this.function.grantPrincipal;
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the deployment contract names (shared/CONTRACT.md) and the one the code is tested on; moving to a newer runtime is a deliberate, tested change, not a default.',
    });

    if (props.tracing) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'xray:PutTraceSegments and xray:PutTelemetryRecords, added by active tracing, support no resource-level permissions; the statement holds only those two actions.',
      });
    }
  }
}

function validateMemorySize(memorySize: number): void {
  if (Token.isUnresolved(memorySize)) return;
  if (!Number.isInteger(memorySize) || memorySize < MEMORY_LIMITS_MB.min || memorySize > MEMORY_LIMITS_MB.max) {
    throw new Error(
      `SsoFunction: memorySize must be an integer from ${MEMORY_LIMITS_MB.min} to ${MEMORY_LIMITS_MB.max} MB, got ${memorySize}`,
    );
  }
}

function validateTimeout(timeout: Duration, servesHttpApi: boolean): void {
  if (timeout.isUnresolved()) return;
  const seconds = timeout.toSeconds({ integral: false });
  const max = servesHttpApi ? MAX_TIMEOUT_SECONDS.httpApi : MAX_TIMEOUT_SECONDS.asynchronous;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > max) {
    const kind = servesHttpApi ? 'serving HTTP API routes' : 'invoked asynchronously';
    throw new Error(
      `SsoFunction: timeout must be a whole number of seconds from 1 to ${max} for a function ${kind}, got ${timeout.toHumanString()}`,
    );
  }
}
