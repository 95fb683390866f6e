import { randomUUID } from 'node:crypto';
import { runAdmin } from '../../bin/admin';
import type { AuditEvent } from '../../functions/core/model';
import { createSessionHandler } from '../../functions/session';
import { createSamlConnection, invoke, problemCode, testRuntime } from '../support/harness';

/** The admin CLI's `tenants domains` and `audit list`, in-process against DynamoDB Local. */

async function admin(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: process.env, log: () => undefined });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

const domain = () => `d${randomUUID().slice(0, 10)}.example.test`;

async function tenantWithConnection() {
  const runtime = await testRuntime();
  const connection = await createSamlConnection(runtime);
  return { runtime, connection, tenantId: connection.tenantId };
}

describe('tenants domains', () => {
  it('adds a domain (normalized) that discovery then serves, lists it and removes it', async () => {
    const { runtime, connection, tenantId } = await tenantWithConnection();
    const name = domain();
    const added = await admin('tenants', 'domains', 'add', '--tenant', tenantId, '--domain', ` ${name.toUpperCase()}. `, '--json');
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.json()).toMatchObject({ domains: [name], discoveryConnectionId: connection.id });
    const sessions = createSessionHandler(runtime);
    expect((await invoke(sessions, { method: 'GET', url: `/login?email=ada@${name}` })).statusCode).toBe(302);
    expect((await admin('tenants', 'domains', 'list', '--tenant', tenantId)).stdout).toContain(name);
    expect(await admin('tenants', 'domains', 'remove', '--tenant', tenantId, '--domain', name)).toMatchObject({ code: 0 });
    expect(problemCode(await invoke(sessions, { method: 'GET', url: `/login?email=ada@${name}` }))).toBe('unknown_domain');
  });

  it("refuses another tenant's domain with exit code 1 and domain_in_use", async () => {
    const first = await tenantWithConnection();
    const second = await tenantWithConnection();
    const name = domain();
    expect(await admin('tenants', 'domains', 'add', '--tenant', first.tenantId, '--domain', name)).toMatchObject({ code: 0 });
    const run = await admin('tenants', 'domains', 'add', '--tenant', second.tenantId, '--domain', name);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: domain_in_use: /);
    expect((await first.runtime.store.getDomain(name))?.tenantId).toBe(first.tenantId);
  });

  it("claims none of several domains when another tenant owns one of them, and keeps those the tenant owned", async () => {
    const first = await tenantWithConnection();
    const second = await tenantWithConnection();
    const [taken, owned, fresh] = [domain(), domain(), domain()];
    expect(await admin('tenants', 'domains', 'add', '--tenant', first.tenantId, '--domain', taken)).toMatchObject({ code: 0 });
    expect(await admin('tenants', 'domains', 'add', '--tenant', second.tenantId, '--domain', owned)).toMatchObject({ code: 0 });
    const run = await admin('tenants', 'domains', 'add', '--tenant', second.tenantId, '--domain', owned, '--domain', fresh, '--domain', taken);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: domain_in_use: /);
    const { store } = second.runtime;
    expect([(await store.getDomain(owned))?.tenantId, await store.getDomain(fresh), (await store.getDomain(taken))?.tenantId]).toEqual([second.tenantId, undefined, first.tenantId]);
  });

  it('refuses a value that is not a domain with exit code 2', async () => {
    const { tenantId } = await tenantWithConnection();
    const run = await admin('tenants', 'domains', 'add', '--tenant', tenantId, '--domain', 'not a domain');
    expect(run.code).toBe(2);
  });

  it('warns when discovery would refuse the domain, and sets the default connection with --default-connection', async () => {
    const { runtime, connection, tenantId } = await tenantWithConnection();
    const second = await createSamlConnection(runtime, { tenantId });
    const name = domain();
    const ambiguous = await admin('tenants', 'domains', 'add', '--tenant', tenantId, '--domain', name);
    expect(ambiguous.code).toBe(0);
    expect(ambiguous.stderr).toContain('--default-connection');
    const fixed = await admin('tenants', 'update', '--id', tenantId, '--default-connection', second.id);
    expect(fixed).toMatchObject({ code: 0, stderr: '' });
    expect((await runtime.store.getTenant(tenantId))?.defaultConnectionId).toBe(second.id);
    expect((await admin('tenants', 'domains', 'list', '--tenant', tenantId, '--json')).json()).toMatchObject({ discoveryConnectionId: second.id });
    const foreign = await admin('tenants', 'update', '--id', tenantId, '--default-connection', `nope-${connection.id}`);
    expect(foreign.code).toBe(1);
  });
});

describe('audit list', () => {
  it("lists a tenant's events oldest first, filtered by --type, --user (id or email) and --since", async () => {
    const { runtime, tenantId } = await tenantWithConnection();
    const now = Date.now();
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    const events: AuditEvent[] = [
      { tenantId, type: 'user.created', at: at(120), userId: 'u-1' },
      { tenantId, type: 'login.refused', at: at(90), code: 'seat_limit_reached', connectionId: 'c' },
      { tenantId, type: 'login.succeeded', at: at(10), userId: 'u-1' },
      { tenantId: `other-${tenantId}`, type: 'login.succeeded', at: at(5), userId: 'u-9' },
    ];
    for (const event of events) await runtime.store.recordAudit(event);
    const all = await admin('audit', 'list', '--tenant', tenantId, '--json');
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.json<AuditEvent[]>().map((e) => e.type)).toEqual(['user.created', 'login.refused', 'login.succeeded']);
    expect((await admin('audit', 'list', '--tenant', tenantId, '--type', 'login.refused', '--json')).json<AuditEvent[]>()).toEqual([expect.objectContaining({ code: 'seat_limit_reached' })]);
    expect((await admin('audit', 'list', '--tenant', tenantId, '--user', 'u-1', '--json')).json<AuditEvent[]>().map((e) => e.type)).toEqual(['user.created', 'login.succeeded']);
    expect((await admin('audit', 'list', '--tenant', tenantId, '--since', '1h', '--json')).json<AuditEvent[]>().map((e) => e.type)).toEqual(['login.succeeded']);
    const human = await admin('audit', 'list', '--tenant', tenantId);
    expect(human.stdout).toContain('login.refused  seat_limit_reached  connection=c');
  });

  it('refuses a --since it cannot read with exit code 2, and an unknown tenant with 1', async () => {
    const { tenantId } = await tenantWithConnection();
    expect((await admin('audit', 'list', '--tenant', tenantId, '--since', 'yesterday')).code).toBe(2);
    expect((await admin('audit', 'list', '--tenant', `nope-${randomUUID()}`)).code).toBe(1);
  });
});
