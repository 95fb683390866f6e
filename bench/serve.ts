/**
 * The local server of `npm start` without its demo data, for the bench's HTTP runs: the three
 * Lambda handlers (built from the environment, as in AWS) behind `local/http-server.ts`, on a
 * loopback port it prints as `listening <port>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GROUP_ENTRIES, type RouteGroup } from '../functions/routes';
import { localRequestListener, type LambdaHandler } from '../local/http-server';

const handlers = Object.fromEntries(
  await Promise.all(
    (Object.keys(GROUP_ENTRIES) as RouteGroup[]).map(async (group) => [group, ((await import(`../${GROUP_ENTRIES[group]}`)) as { handler: LambdaHandler }).handler] as const),
  ),
) as Record<RouteGroup, LambdaHandler>;
const server = createServer(localRequestListener({ baseUrl: process.env.PUBLIC_BASE_URL!, handlers }));
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
