import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAdmin } from '../../bin/admin';
import { testRuntime } from '../support/harness';
import { scimRequester } from '../support/scim';

/** The admin CLI's SCIM commands, in-process against the DynamoDB Local of the global setup. */

async function admin(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, env: process.env });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

async function newTenant(): Promise<string> {
  const id = `tenant-${randomUUID().slice(0, 8)}`;
  expect((await admin('tenants', 'add', '--id', id)).code).toBe(0);
  return id;
}

describe('admin CLI: scim-tokens', () => {
  it('issues a token printed once, lists it without its value, and revokes it at once', async () => {
    const runtime = await testRuntime();
    const tenantId = await newTenant();
    const issued = await admin('scim-tokens', 'issue', '--tenant', tenantId, '--json');
    expect(issued.code).toBe(0);
    const { id, token } = issued.json<{ id: string; token: string }>();
    expect(Object.keys(issued.json<object>()).sort()).toEqual(['id', 'token']);
    expect(Buffer.from(token.replace(/^scim_/, ''), 'base64url')).toHaveLength(32);
    expect((await scimRequester(runtime, token)('GET', '/scim/v2/Users')).status).toBe(200);

    const listed = await admin('scim-tokens', 'list', '--tenant', tenantId, '--json');
    expect(listed.json<{ id: string }[]>()).toEqual([{ id, tenantId, createdAt: expect.any(String) }]);
    expect(listed.stdout).not.toContain(token);
    const human = await admin('scim-tokens', 'list', '--tenant', tenantId);
    expect(human.stdout).toContain(id);

    expect((await admin('scim-tokens', 'revoke', '--id', id)).code).toBe(0);
    expect((await scimRequester(runtime, token)('GET', '/scim/v2/Users')).status).toBe(401);
    expect((await admin('scim-tokens', 'revoke', '--id', id)).code).toBe(1);
  });

  it('stores only the hash of a token', async () => {
    const runtime = await testRuntime();
    const tenantId = await newTenant();
    const { token } = (await admin('scim-tokens', 'issue', '--tenant', tenantId, '--json')).json<{ token: string }>();
    const [stored] = await runtime.store.listScimTokens(tenantId);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(stored!.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a token for a tenant that does not exist, and bad usage', async () => {
    expect((await admin('scim-tokens', 'issue', '--tenant', `nobody-${randomUUID()}`)).code).toBe(1);
    expect((await admin('scim-tokens', 'issue')).code).toBe(2);
  });
});

describe('admin CLI: tenants group-roles', () => {
  it('sets the directory group-to-role mapping from --map and --default, or a file, and removes it', async () => {
    const runtime = await testRuntime();
    const tenantId = await newTenant();
    expect((await admin('tenants', 'group-roles', '--tenant', tenantId, '--map', 'Admins=admin,owner', '--map', 'Staff=member', '--default', 'viewer')).code).toBe(0);
    expect((await runtime.store.getTenant(tenantId))!.directoryRoles).toEqual({ groupRoles: { Admins: ['admin', 'owner'], Staff: ['member'] }, defaults: ['viewer'] });

    const file = join(mkdtempSync(join(tmpdir(), 'sso-scim-')), 'roles.json');
    writeFileSync(file, JSON.stringify({ groupRoles: { Engineering: ['engineer'] } }));
    expect((await admin('tenants', 'group-roles', '--tenant', tenantId, '--file', file)).code).toBe(0);
    expect((await runtime.store.getTenant(tenantId))!.directoryRoles).toEqual({ groupRoles: { Engineering: ['engineer'] }, defaults: [] });

    expect((await admin('tenants', 'group-roles', '--tenant', tenantId, '--none')).code).toBe(0);
    expect((await runtime.store.getTenant(tenantId))!.directoryRoles).toBeUndefined();
  });

  it('refuses a malformed pair or file with exit code 2', async () => {
    const tenantId = await newTenant();
    expect((await admin('tenants', 'group-roles', '--tenant', tenantId, '--map', 'Admins')).code).toBe(2);
    const file = join(mkdtempSync(join(tmpdir(), 'sso-scim-')), 'roles.json');
    writeFileSync(file, JSON.stringify({ groupRoles: { Admins: 'admin' } }));
    expect((await admin('tenants', 'group-roles', '--tenant', tenantId, '--file', file)).code).toBe(2);
  });
});
