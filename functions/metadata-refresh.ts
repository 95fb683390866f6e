import { logger } from './http';
import { runtimeFromEnvironment } from './core/runtime';
import { instrumentRuntime } from './observability';
import { refreshAllMetadata } from './core/saml/metadata-refresh';

const runtime = instrumentRuntime(await runtimeFromEnvironment(process.env), logger);

/** Invoked by EventBridge Scheduler: refreshes SAML connections from their IdPs' metadata URLs. */
export const handler = async (): Promise<void> => {
  const report = await refreshAllMetadata(runtime);
  logger.info('metadata refresh done', { refreshed: report.refreshed.length, failed: report.failed.length, expiring: report.expiring.length });
};
