import { AppError } from '../errors';
import type { DirectoryRoles } from '../model';
import { issueScimToken, listScimTokens, revokeScimToken, type ScimTokenInfo } from '../scim/tokens';
import type { Runtime } from '../runtime';
import { parseDirectoryRoles } from './policy';
import { requireTenant } from './tenants';

export { issueScimToken, listScimTokens, revokeScimToken, type ScimTokenInfo };

/**
 * `GROUP=ROLE[,ROLE…]` pairs and default roles as a tenant's directory roles.
 * @throws AppError `invalid_request` naming the malformed pair.
 */
export function directoryRolesFromPairs(pairs: readonly string[], defaults: readonly string[]): DirectoryRoles {
  const groupRoles: Record<string, string[]> = {};
  for (const pair of pairs) {
    const at = pair.lastIndexOf('=');
    const group = pair.slice(0, at).trim();
    const roles = pair.slice(at + 1).split(',').map((r) => r.trim()).filter(Boolean);
    if (at <= 0 || group === '' || roles.length === 0) throw new AppError('invalid_request', `--map "${pair}" must be GROUP=ROLE[,ROLE...]`);
    groupRoles[group] = [...new Set([...(groupRoles[group] ?? []), ...roles])];
  }
  return parseDirectoryRoles({ groupRoles, defaults: [...defaults] });
}

/**
 * Sets (or with `undefined` removes) how the tenant's SCIM groups give roles. It applies from the
 * next SCIM change of a group's members; roles already set stay until then.
 *
 * @throws AppError `not_found`.
 */
export async function setDirectoryRoles(runtime: Pick<Runtime, 'store'>, tenantId: string, directoryRoles: DirectoryRoles | undefined) {
  await requireTenant(runtime.store, tenantId);
  await runtime.store.setDirectoryRoles(tenantId, directoryRoles);
  return requireTenant(runtime.store, tenantId);
}
