import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runAdmin } from '../../bin/admin';
import { planConfiguration, type PlanStep } from '../../functions/core/admin/apply';
import { parseConfiguration } from '../../functions/core/admin/apply-file';
import type { SamlConnection } from '../../functions/core/model';
import { idpCert, testRuntime, testStore } from '../support/harness';

/** `apply --file`: declarative tenants and connections, run in-process against DynamoDB Local. */

const dir = mkdtempSync(join(tmpdir(), 'sso-apply-'));
const store = testStore();

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T>(): T;
}

async function admin(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, env });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

function file(name: string, content: string): string {
  const path = join(dir, `${randomUUID()}-${name}`);
  writeFileSync(path, content);
  return path;
}

const yamlFile = (content: object) => file('sso.yaml', stringify(content));
const apply = (path: string, ...flags: string[]) => admin(['apply', '--file', path, ...flags]);
const steps = (run: Run) => run.json<{ steps: PlanStep[] }>().steps;

/** A loopback OpenID Provider answering only its discovery document. */
let discovery: Server;
let issuer: string;

beforeAll(async () => {
  discovery = createServer((request, response) => {
    if (request.url !== '/.well-known/openid-configuration') {
      response.statusCode = 404;
      return response.end();
    }
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    );
  });
  await new Promise<void>((resolve) => discovery.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(discovery.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => discovery.close(() => resolve())));

/** A configuration of one tenant with a SAML and an OIDC connection, under fresh ids. */
function configuration() {
  const tenant = `acme-${randomUUID().slice(0, 8)}`;
  const saml = {
    id: `${tenant}-okta`,
    tenantId: tenant,
    protocol: 'saml',
    idpEntityId: 'https://idp.example.test/metadata',
    idpSsoUrl: 'https://idp.example.test/sso',
    idpCertificates: [idpCert],
    clockSkewSeconds: 60,
    returnToAllowlist: ['https://app.acme.example/'],
    roles: { defaults: ['member'], groupRoles: { 'Acme Admins': ['admin'] } },
    allowedEmailDomains: ['Acme.example'],
  };
  const oidc = {
    id: `${tenant}-entra`,
    tenantId: tenant,
    protocol: 'oidc',
    issuer: `${issuer}/`,
    clientId: 'acme-rp',
    clientSecretName: 'acme-rp-secret',
    tokenEndpointAuthMethod: 'client_secret_post',
    scopes: ['openid', 'email', 'profile'],
    returnToAllowlist: ['https://app.acme.example/'],
    jit: false,
  };
  return { tenant, saml, oidc, content: { tenants: [{ id: tenant, name: 'Acme Corp', seatLimit: 50 }], connections: [saml, oidc] } };
}

describe('apply', () => {
  it('creates what the file says, and applying it again changes nothing', async () => {
    const { tenant, saml, oidc, content } = configuration();
    const path = yamlFile(content);
    const first = await apply(path, '--json');
    expect(first.code).toBe(0);
    expect(steps(first)).toEqual([
      { kind: 'tenant', id: tenant, action: 'create' },
      { kind: 'connection', id: saml.id, action: 'create' },
      { kind: 'connection', id: oidc.id, action: 'create' },
    ]);
    expect(await store.getTenant(tenant)).toEqual({ id: tenant, name: 'Acme Corp', seatLimit: 50, seatCount: 0 });
    expect(await store.getConnection(saml.id)).toMatchObject({ tenantId: tenant, protocol: 'saml', enabled: true, clockSkewSeconds: 60, allowedEmailDomains: ['acme.example'], allowSha1: false });
    // The issuer is stored as the discovery document spells it.
    expect(await store.getConnection(oidc.id)).toMatchObject({ protocol: 'oidc', issuer, tokenEndpointAuthMethod: 'client_secret_post', jit: false });

    const second = await apply(path);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`connection\\s+${saml.id}\\s+unchanged`));
    expect(second.stdout).toContain('nothing to change');
    expect((await store.getConnection(saml.id))?.version).toBeUndefined();
    expect((await store.getConnection(oidc.id))?.version).toBeUndefined();
  });

  it('updates only the fields that changed, as one new version, and a second run moves no version', async () => {
    const { tenant, saml, oidc, content } = configuration();
    expect((await apply(yamlFile(content))).code).toBe(0);
    const changed = {
      tenants: [{ id: tenant, name: 'Acme Corp', seatLimit: null }],
      connections: [{ ...saml, enabled: false, allowSha1: true, roles: { defaults: ['viewer'] } }, { ...oidc, scopes: ['openid', 'email'] }],
    };
    const path = yamlFile(changed);
    const run = await apply(path, '--json');
    expect(run.code).toBe(0);
    expect(steps(run)).toEqual([
      { kind: 'tenant', id: tenant, action: 'update', fields: ['seatLimit'] },
      { kind: 'connection', id: saml.id, action: 'update', fields: ['allowSha1', 'enabled', 'roles'] },
      { kind: 'connection', id: oidc.id, action: 'update', fields: ['scopes'] },
    ]);
    expect(await store.getConnection(saml.id)).toMatchObject({ version: 1, enabled: false, allowSha1: true, roles: { defaults: ['viewer'] }, clockSkewSeconds: 60 });
    expect((await store.getTenant(tenant))?.seatLimit).toBeUndefined();

    const again = await apply(path, '--json');
    expect(steps(again).map((s) => s.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect((await store.getConnection(saml.id))?.version).toBe(1);
    expect((await store.getConnection(oidc.id))?.version).toBe(1);
  });

  it('leaves out of the change what an entry does not name, and removes an optional member set to null', async () => {
    const { saml, content } = configuration();
    expect((await apply(yamlFile({ ...content, connections: [{ ...saml, spEntityId: 'urn:old-sp' }] }))).code).toBe(0);
    const { roles: _roles, clockSkewSeconds: _skew, ...fewer } = saml;
    const run = await apply(yamlFile({ connections: [{ ...fewer, spEntityId: null }] }), '--json');
    expect(steps(run)).toEqual([{ kind: 'connection', id: saml.id, action: 'update', fields: ['spEntityId'] }]);
    const stored = (await store.getConnection(saml.id)) as SamlConnection;
    expect(stored.spEntityId).toBeUndefined();
    expect(stored).toMatchObject({ clockSkewSeconds: 60, roles: { groupRoles: { 'Acme Admins': ['admin'] } } });
  });

  it('writes nothing with --dry-run, and prints the plan', async () => {
    const { tenant, saml, content } = configuration();
    const run = await apply(yamlFile(content), '--dry-run');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`tenant\\s+${tenant}\\s+create`));
    expect(run.stdout).toContain('dry run: 3 change(s) planned, nothing was written');
    expect(await store.getTenant(tenant)).toBeUndefined();
    expect(await store.getConnection(saml.id)).toBeUndefined();

    expect((await apply(yamlFile(content))).code).toBe(0);
    const update = await apply(yamlFile({ ...content, connections: [{ ...saml, enabled: false }] }), '--dry-run', '--json');
    expect(steps(update)).toContainEqual({ kind: 'connection', id: saml.id, action: 'update', fields: ['enabled'] });
    expect(await store.getConnection(saml.id)).toMatchObject({ enabled: true });
    expect((await store.getConnection(saml.id))?.version).toBeUndefined();
  });

  it('removes unlisted connections of the file\'s tenants only with --prune, and never another tenant\'s', async () => {
    const { tenant, saml, oidc, content } = configuration();
    const other = configuration();
    expect((await apply(yamlFile(content))).code).toBe(0);
    expect((await apply(yamlFile(other.content))).code).toBe(0);
    const onlySaml = yamlFile({ tenants: content.tenants, connections: [saml] });

    const kept = await apply(onlySaml, '--json');
    expect(steps(kept).map((s) => s.action)).toEqual(['unchanged', 'unchanged']);
    expect(await store.getConnection(oidc.id)).toBeDefined();

    const dry = await apply(onlySaml, '--prune', '--dry-run', '--json');
    expect(steps(dry)).toContainEqual({ kind: 'connection', id: oidc.id, action: 'remove' });
    expect(await store.getConnection(oidc.id)).toBeDefined();

    const pruned = await apply(onlySaml, '--prune', '--json');
    expect(steps(pruned)).toEqual([
      { kind: 'tenant', id: tenant, action: 'unchanged' },
      { kind: 'connection', id: saml.id, action: 'unchanged' },
      { kind: 'connection', id: oidc.id, action: 'remove' },
    ]);
    expect(await store.getConnection(oidc.id)).toBeUndefined();
    expect(await store.getTenant(tenant)).toBeDefined();
    expect(await store.getConnection(other.oidc.id)).toBeDefined();
  });

  it('reads JSON files as well', async () => {
    const { tenant, content } = configuration();
    const run = await apply(file('sso.json', JSON.stringify(content)));
    expect(run.code).toBe(0);
    expect(await store.getTenant(tenant)).toMatchObject({ name: 'Acme Corp' });
  });

  it('notes a secret it cannot read, and is quiet about one it can', async () => {
    const { oidc, content } = configuration();
    const missing = await apply(yamlFile({ ...content, connections: [oidc] }));
    expect(missing.code).toBe(0);
    expect(missing.stderr).toBe(`note: connection ${oidc.id}: the secret acme-rp-secret could not be read; create it before the first login\n`);

    const next = configuration();
    const secrets = file('secrets.json', JSON.stringify({ 'acme-rp-secret': 's3cret' }));
    const present = await admin(['apply', '--file', yamlFile({ ...next.content, connections: [next.oidc] })], { ...process.env, LOCAL_SECRETS_FILE: secrets });
    expect(present).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('apply refuses', () => {
  async function refused(content: object, message: string | RegExp): Promise<Run> {
    const run = await apply(yamlFile(content));
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    if (typeof message === 'string') expect(run.stderr).toContain(message);
    else expect(run.stderr).toMatch(message);
    expect(run.stderr.split('\n')).toHaveLength(2);
    return run;
  }

  it('an unknown field, a field of the other protocol, or a bad policy value, naming its path, and writes nothing', async () => {
    const { tenant, saml, oidc, content } = configuration();
    await refused({ ...content, connections: [{ ...saml, idpSsoURL: 'https://x' }] }, 'connections[0].idpSsoURL is not a field here');
    await refused({ ...content, connections: [saml, { ...oidc, allowSha1: true }] }, 'connections[1].allowSha1 is not a field here');
    await refused({ ...content, connections: [{ ...saml, roles: { defaults: ['member'], groupRoles: { admins: 'admin' } } }] }, 'connections[0].roles.groupRoles["admins"] must be an array of strings');
    await refused({ ...content, connections: [{ ...saml, protocol: 'ws-fed' }] }, 'connections[0].protocol must be "saml" or "oidc"');
    await refused({ tenants: [{ id: tenant, seats: 3 }] }, 'tenants[0].seats is not a field here');
    await refused({ tenants: [{ id: tenant, seatLimit: -1 }] }, 'tenants[0].seatLimit must be a whole number');
    await refused({ ...content, connections: [saml, saml] }, 'connections[1].id names');
    await refused({ ...content, connections: [{ ...saml, idpSsoUrl: 'http://idp.example.test/sso' }] }, /connections\[0\] \(.*\): the SSO URL must be https/);
    expect(await store.getTenant(tenant)).toBeUndefined();
  });

  it('a connection of a tenant that exists nowhere, or one moved to another tenant', async () => {
    const { saml, content } = configuration();
    await refused({ connections: [saml] }, `tenantId names ${saml.tenantId}, which is neither in the file's tenants nor in the table`);
    expect((await apply(yamlFile(content))).code).toBe(0);
    const other = configuration();
    await refused({ tenants: other.content.tenants, connections: [{ ...saml, tenantId: other.tenant }] }, `connection ${saml.id} belongs to tenant ${saml.tenantId}; a connection never moves to another tenant`);
    expect(await store.getConnection(saml.id)).toMatchObject({ tenantId: saml.tenantId });
    expect(await store.getTenant(other.tenant)).toBeUndefined();
  });

  it('a file that is not YAML, or not an object', async () => {
    const broken = await apply(file('sso.yaml', 'tenants: [\n'));
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^error: --file .*sso\.yaml: not YAML/);
    const list = await apply(file('sso.yaml', '- id: x\n'));
    expect(list.code).toBe(2);
    expect(list.stderr).toContain('file must be an object');
  });
});

describe('apply: a tenant\'s domains, default connection and directory roles', () => {
  const domain = (tenant: string, label: string) => `${label}.${tenant}.example`;
  const owners = async (...domains: string[]) => Promise.all(domains.map(async (d) => (await store.getDomain(d))?.tenantId));

  it('claims the domains, names the default connection and sets the directory roles, and applying it again changes nothing', async () => {
    const { tenant, saml, content } = configuration();
    const directoryRoles = { groupRoles: { 'Acme Admins': ['admin'], Engineers: ['member', 'deployer'] }, defaults: ['member'] };
    const path = yamlFile({ ...content, tenants: [{ ...content.tenants[0], domains: [domain(tenant, 'a'), `  ${domain(tenant, 'B').toUpperCase()}.`], defaultConnection: saml.id, directoryRoles }] });
    const first = await apply(path, '--json');
    expect(first.code).toBe(0);
    expect(steps(first)[0]).toEqual({ kind: 'tenant', id: tenant, action: 'create', domains: { claim: [domain(tenant, 'a'), domain(tenant, 'b')], release: [] } });
    expect(await owners(domain(tenant, 'a'), domain(tenant, 'b'))).toEqual([tenant, tenant]);
    expect(await store.getTenant(tenant)).toMatchObject({ defaultConnectionId: saml.id, directoryRoles });

    const second = await apply(path, '--json');
    expect(steps(second).map((s) => s.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    const human = await apply(path);
    expect(human.stdout).toContain('nothing to change');
  });

  it('plans and applies a change of each as an update of the tenant naming it', async () => {
    const { tenant, saml, oidc, content } = configuration();
    const base = { ...content.tenants[0], domains: [domain(tenant, 'a')], defaultConnection: saml.id, directoryRoles: { groupRoles: { Admins: ['admin'] }, defaults: [] } };
    expect((await apply(yamlFile({ ...content, tenants: [base] }))).code).toBe(0);

    const changed = yamlFile({ ...content, tenants: [{ ...base, domains: [domain(tenant, 'a'), domain(tenant, 'c')], defaultConnection: oidc.id, directoryRoles: { groupRoles: { Admins: ['owner'] }, defaults: ['member'] } }] });
    const dry = await apply(changed, '--dry-run');
    expect(dry.stdout).toMatch(new RegExp(`tenant\\s+${tenant}\\s+update: directoryRoles, defaultConnection, domains \\(\\+${domain(tenant, 'c').replace(/\./g, '\\.')}\\)`));
    expect(await store.getDomain(domain(tenant, 'c'))).toBeUndefined();

    const run = await apply(changed, '--json');
    expect(steps(run)[0]).toEqual({ kind: 'tenant', id: tenant, action: 'update', fields: ['directoryRoles', 'defaultConnection', 'domains'], domains: { claim: [domain(tenant, 'c')], release: [] } });
    expect(await store.getTenant(tenant)).toMatchObject({ defaultConnectionId: oidc.id, directoryRoles: { groupRoles: { Admins: ['owner'] }, defaults: ['member'] } });
    expect(await owners(domain(tenant, 'a'), domain(tenant, 'c'))).toEqual([tenant, tenant]);

    const cleared = await apply(yamlFile({ tenants: [{ id: tenant, defaultConnection: null, directoryRoles: null }] }), '--json');
    expect(steps(cleared)).toEqual([{ kind: 'tenant', id: tenant, action: 'update', fields: ['directoryRoles', 'defaultConnection'] }]);
    const stored = await store.getTenant(tenant);
    expect(stored?.defaultConnectionId).toBeUndefined();
    expect(stored?.directoryRoles).toBeUndefined();
    expect(await owners(domain(tenant, 'a'), domain(tenant, 'c'))).toEqual([tenant, tenant]);
  });

  it('releases the domains the file does not list only with --prune', async () => {
    const { tenant, content } = configuration();
    const all = [domain(tenant, 'a'), domain(tenant, 'b'), domain(tenant, 'c')];
    expect((await apply(yamlFile({ tenants: [{ ...content.tenants[0], domains: all }] }))).code).toBe(0);
    const fewer = yamlFile({ tenants: [{ ...content.tenants[0], domains: [domain(tenant, 'b')] }] });

    const kept = await apply(fewer, '--json');
    expect(steps(kept)).toEqual([{ kind: 'tenant', id: tenant, action: 'unchanged' }]);
    expect(await owners(...all)).toEqual([tenant, tenant, tenant]);

    const dry = await apply(fewer, '--prune', '--dry-run', '--json');
    expect(steps(dry)).toEqual([{ kind: 'tenant', id: tenant, action: 'update', fields: ['domains'], domains: { claim: [], release: [domain(tenant, 'a'), domain(tenant, 'c')] } }]);
    expect(await owners(...all)).toEqual([tenant, tenant, tenant]);

    const pruned = await apply(fewer, '--prune', '--json');
    expect(pruned.code).toBe(0);
    expect(await owners(...all)).toEqual([undefined, tenant, undefined]);
    expect(steps(await apply(fewer, '--prune', '--json'))).toEqual([{ kind: 'tenant', id: tenant, action: 'unchanged' }]);
  });

  it('refuses a domain of another tenant with domain_in_use and exit 1, writing nothing of the file', async () => {
    const owner = configuration();
    const taken = domain(owner.tenant, 'taken');
    expect((await apply(yamlFile({ tenants: [{ ...owner.content.tenants[0], domains: [taken] }] }))).code).toBe(0);

    const { tenant, saml, content } = configuration();
    const fresh = domain(tenant, 'fresh');
    const run = await apply(yamlFile({ ...content, tenants: [{ ...content.tenants[0], domains: [fresh, taken] }] }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: domain_in_use: /);
    expect(await owners(fresh, taken)).toEqual([undefined, owner.tenant]);
    expect(await store.getTenant(tenant)).toBeUndefined();
    expect(await store.getConnection(saml.id)).toBeUndefined();

    // A positive control: the same file without the other tenant's domain applies.
    expect((await apply(yamlFile({ ...content, tenants: [{ ...content.tenants[0], domains: [fresh] }] }))).code).toBe(0);
    expect(await owners(fresh)).toEqual([tenant]);
  });

  it('claims all of a tenant\'s new domains or none when another tenant takes one between the plan and the writes', async () => {
    const { tenant, content } = configuration();
    const first = domain(tenant, 'first');
    const raced = domain(tenant, 'raced');
    expect((await apply(yamlFile({ tenants: [content.tenants[0]] }))).code).toBe(0);
    const plan = await planConfiguration(await testRuntime(), parseConfiguration({ tenants: [{ id: tenant, domains: [first, raced] }] }));
    await store.claimDomain({ domain: raced, tenantId: 'someone-else', claimedAt: new Date().toISOString() });
    await expect(plan.apply()).rejects.toMatchObject({ code: 'domain_in_use' });
    expect(await owners(first, raced)).toEqual([undefined, 'someone-else']);
  });
});

describe('apply refuses a tenant\'s', () => {
  it('bad domain, a domain given two tenants, bad directory roles or a default connection not its own, naming the path', async () => {
    const { tenant, content } = configuration();
    const other = configuration();
    const expectRefused = async (file: object, message: string) => {
      const run = await apply(yamlFile(file));
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
    };
    await expectRefused({ tenants: [{ id: tenant, domains: ['not a domain'] }] }, 'tenants[0].domains[0]');
    await expectRefused({ tenants: [{ id: tenant, domains: ['x.example'] }, { id: other.tenant, domains: ['X.example'] }] }, 'tenants[1].domains[0] names x.example, which the file gives tenant');
    await expectRefused({ tenants: [{ id: tenant, directoryRoles: { groupRoles: { Admins: 'admin' } } }] }, 'tenants[0].directoryRoles.groupRoles["Admins"] must be an array of strings');
    await expectRefused({ tenants: [{ id: tenant, directoryRoles: { roles: [] } }] }, 'tenants[0].directoryRoles.roles is not a field here');
    expect((await apply(yamlFile(other.content))).code).toBe(0);
    await expectRefused({ ...content, tenants: [{ ...content.tenants[0], defaultConnection: other.saml.id }] }, `tenants[0].defaultConnection names ${other.saml.id}, which is not a connection of tenant ${tenant}`);
    expect(await store.getTenant(tenant)).toBeUndefined();

    // With --prune, a default connection the file does not list would be removed by the same apply.
    const pruning = await apply(yamlFile({ tenants: [{ id: other.tenant, defaultConnection: other.saml.id }], connections: [other.oidc] }), '--prune');
    expect(pruning.code).toBe(2);
    expect(pruning.stderr).toContain(`tenants[0].defaultConnection names ${other.saml.id}, which --prune removes`);
    expect(await store.getConnection(other.saml.id)).toBeDefined();
    const kept = await apply(yamlFile({ tenants: [{ id: other.tenant, defaultConnection: other.saml.id }], connections: [other.oidc] }));
    expect(kept.code).toBe(0);
    expect((await store.getTenant(other.tenant))?.defaultConnectionId).toBe(other.saml.id);
  });
});
