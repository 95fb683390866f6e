/** The admin CLI's text for people: aligned fields and tables of tenants, connections, users and login evaluations. */
import { X509Certificate } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Connection, Tenant, User } from '../model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../provisioning';
import { spEndpoints } from '../saml/service-provider';
import type { LoginReport } from './evaluation';

/** Aligned `label  value` lines; a value of several lines continues under the first. */
export function fields(pairs: readonly (readonly [string, string | readonly string[] | undefined])[]): string {
  const shown = pairs.filter(([, value]) => value !== undefined && (typeof value === 'string' || value.length > 0));
  const width = Math.max(0, ...shown.map(([label]) => label.length)) + 2;
  return shown
    .map(([label, value]) => {
      const lines = typeof value === 'string' ? [value] : [...value!];
      return lines.map((line, i) => `${(i === 0 ? label : '').padEnd(width)}${line}`).join('\n');
    })
    .join('\n');
}

/** A table with a header row and columns as wide as their widest cell; `(none)` when there is no row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '(none)';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const yesNo = (value: boolean | undefined) => (value ? 'yes' : 'no');
/** Values joined with commas, or `(none)`. */
export const listOf = (values: readonly string[] | undefined) => (values?.length ? values.join(', ') : '(none)');
/** A tenant's seats: `3 used of 10`, or `of unlimited`. */
export const seats = (tenant: Tenant) => `${tenant.seatCount} used of ${tenant.seatLimit ?? 'unlimited'}`;
const valueText = (value: string | readonly string[] | undefined) => (value === undefined ? '-' : typeof value === 'string' ? value : `[${value.join(', ')}]`);

/** A tenant as aligned fields. */
export function describeTenant(tenant: Tenant): string {
  return fields([
    ['tenant', tenant.id],
    ['name', tenant.name],
    ['seats', seats(tenant)],
  ]);
}

function certificateLine(pem: string): string {
  try {
    const cert = new X509Certificate(pem);
    return `${cert.subject.replace(/\n/g, ', ')} (expires ${new Date(cert.validTo).toISOString().slice(0, 10)})`;
  } catch {
    return '(unreadable certificate)';
  }
}

/** A connection as an admin needs it: its IdP, the SP endpoints or redirect URI to give the IdP admin, and its policy. */
export function describeConnection(connection: Connection, publicBaseUrl: string): string {
  const common: [string, string | readonly string[] | undefined][] = [
    ['connection', connection.id],
    ['tenant', connection.tenantId],
    ['protocol', connection.protocol],
    ['status', connection.enabled ? 'enabled' : 'disabled'],
    ['version', String(connection.version ?? 0)],
    ['name', connection.displayName],
  ];
  const policy: [string, string | readonly string[] | undefined][] = [
    ['jit', yesNo(connection.jit ?? true)],
    ['link by email', yesNo(connection.linkByEmail)],
    ['email domains', listOf(connection.allowedEmailDomains)],
    ['return_to allowlist', connection.returnToAllowlist.length ? connection.returnToAllowlist : '(none: every return target is refused)'],
    ['default roles', listOf(connection.roles.defaults)],
    ['group roles', Object.entries(connection.roles.groupRoles ?? {}).map(([group, roles]) => `${group} -> ${roles.join(', ')}`)],
    [
      'attribute mapping',
      isDeepStrictEqual(connection.attributeMapping, DEFAULT_ATTRIBUTE_MAPPING)
        ? 'default'
        : `${Object.keys(connection.attributeMapping.attributes).join(', ')}${connection.attributeMapping.required.length ? ` (required: ${connection.attributeMapping.required.join(', ')})` : ''}`,
    ],
  ];
  if (connection.protocol === 'saml') {
    const { spEntityId, acsUrl } = spEndpoints(connection, publicBaseUrl);
    const base = `${publicBaseUrl}/saml/${encodeURIComponent(connection.id)}`;
    return fields([
      ...common,
      ['idp entity id', connection.idpEntityId],
      ['idp sso url', connection.idpSsoUrl],
      ['idp metadata url', connection.metadataUrl],
      ['idp certificates', connection.idpCertificates.map(certificateLine)],
      ['sp entity id', spEntityId],
      ['acs url', acsUrl],
      ['sp metadata', `${base}/metadata`],
      ['login url', `${base}/login?return_to=<url>`],
      ['sp keys', (connection.spKeys ?? []).map((k) => `${k.id} (${k.use}, secret ${k.secretName})`)],
      ['sign requests', connection.signAuthnRequests || connection.idpWantsAuthnRequestsSigned ? `yes${connection.signAuthnRequests ? '' : ' (the IdP metadata wants it)'}` : 'no'],
      ['allow sha1', yesNo(connection.allowSha1)],
      ['idp-initiated', yesNo(connection.allowIdpInitiated)],
      ['clock skew', `${connection.clockSkewSeconds} s`],
      ...policy,
    ]);
  }
  const base = `${publicBaseUrl}/oidc/${encodeURIComponent(connection.id)}`;
  return fields([
    ...common,
    ['issuer', connection.issuer],
    ['client id', connection.clientId],
    ['client auth', connection.tokenEndpointAuthMethod],
    ['secret name', connection.clientSecretName],
    ['scopes', (connection.scopes ?? ['openid', 'email', 'profile']).join(' ')],
    ['id token algs', listOf(connection.idTokenSigningAlgorithms ?? ['RS256'])],
    ['entra tenants', connection.allowedEntraTenants?.length ? connection.allowedEntraTenants.join(', ') : undefined],
    ['redirect uri', `${base}/callback`],
    ['login url', `${base}/login?return_to=<url>`],
    ...policy,
  ]);
}

/** A user as aligned fields. */
export function describeUser(user: User): string {
  return fields([
    ['user', user.id],
    ['tenant', user.tenantId],
    ['email', user.email ?? '-'],
    ['name', user.name ?? '-'],
    ['status', user.status],
    ['roles', listOf(user.roles)],
    ['attributes', Object.entries(user.attributes).map(([name, value]) => `${name}: ${valueText(value)}`)],
    ['created', user.createdAt],
    ['updated', user.updatedAt],
  ]);
}

const OUTCOMES: Record<LoginReport['evaluation']['outcome'], string> = {
  create: 'create: a new user would be created',
  link: 'link: the identity would join the existing user of its email',
  update: 'update: the linked user would be changed',
  keep: 'keep: the linked user would log in unchanged',
  refused: 'refused',
};

/** A login evaluation: the outcome, the user and roles it would produce, and its changes. */
export function describeLoginReport(report: LoginReport): string {
  const { evaluation, resultingUser } = report;
  return fields([
    ['connection', `${report.connectionId} (${report.protocol}, tenant ${report.tenantId})`],
    ['outcome', OUTCOMES[evaluation.outcome]],
    ['refusal', evaluation.refusal ? `${evaluation.refusal.code}${evaluation.refusal.detail ? `: ${evaluation.refusal.detail}` : ''}` : undefined],
    ['subject', evaluation.identity.subject],
    ['email verified', yesNo(evaluation.identity.emailVerified)],
    ['user', resultingUser ? `${resultingUser.id}${evaluation.user ? ` (${evaluation.user.status})` : ''}` : undefined],
    ['email', evaluation.profile.email ?? '-'],
    ['name', evaluation.profile.name ?? '-'],
    ['attributes', Object.entries(evaluation.profile.attributes).map(([name, value]) => `${name}: ${valueText(value)}`)],
    ['roles', evaluation.outcome === 'refused' ? undefined : listOf(resultingUser?.roles ?? evaluation.roles)],
    ['changes', evaluation.changes.map((c) => `${c.field}: ${valueText(c.from)} -> ${valueText(c.to)}`)],
    ['idp attributes', Object.entries(evaluation.identity.attributes).map(([name, values]) => `${name}: ${valueText(values)}`)],
  ]);
}
