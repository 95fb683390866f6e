/**
 * The admin CLI's SCIM commands: `scim-tokens issue|list|revoke`, and `tenants group-roles`
 * (the tenant's directory group-to-role mapping). bin/admin.ts registers them in its list of groups.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fields, table } from '../../functions/core/admin/describe';
import { parseDirectoryRoles } from '../../functions/core/admin/policy';
import { directoryRolesFromPairs, issueScimToken, listScimTokens, revokeScimToken, setDirectoryRoles } from '../../functions/core/admin/scim-tokens';
import { AppError } from '../../functions/core/errors';
import { bool, kitInput, str, strs, type CommandKit, type Commands } from './cli';

/** What the CLI lends its commands. Kept exported here: a group module may take it as this one does. */
export type { CommandKit } from './cli';

/** The SCIM commands, keyed as bin/admin.ts's command table keys them. */
export function scimCommands(kit: CommandKit): Commands {
  const input = <T>(parse: () => T): T => kitInput(kit, parse);
  return {
    'scim-tokens issue': {
      synopsis: 'scim-tokens issue --tenant T',
      summary: 'issue a SCIM bearer token for a tenant; it is printed once and stored only as a hash (--json: {"id","token"})',
      options: { tenant: str },
      prepare(args) {
        const tenantId = args.required('tenant');
        return async (context) => {
          const issued = await issueScimToken(context.runtime.store, tenantId, context.runtime.clock());
          kit.print(context, { id: issued.id, token: issued.token }, () =>
            fields([
              ['token', issued.token],
              ['id', issued.id],
              ['tenant', issued.tenantId],
              ['SCIM base URL', `${context.runtime.config.publicBaseUrl}/scim/v2`],
              ['note', 'this is the only time the token is shown: put it in the IdP now (revoke it with scim-tokens revoke --id)'],
            ]),
          );
        };
      },
    },
    'scim-tokens list': {
      synopsis: 'scim-tokens list --tenant T',
      summary: "the tenant's SCIM tokens (ids and dates; never their values)",
      options: { tenant: str },
      prepare(args) {
        const tenantId = args.required('tenant');
        return async (context) => {
          const tokens = await listScimTokens(context.runtime.store, tenantId);
          kit.print(context, tokens, () => table(['ID', 'CREATED'], tokens.map((t) => [t.id, t.createdAt])));
        };
      },
    },
    'scim-tokens revoke': {
      synopsis: 'scim-tokens revoke --id ID',
      summary: 'revoke a SCIM token at once: the next request with it is 401',
      options: { id: str },
      prepare(args) {
        const id = args.required('id');
        return async (context) => {
          const revoked = await revokeScimToken(context.runtime.store, id);
          kit.print(context, { revoked: revoked.id, tenantId: revoked.tenantId }, () => `revoked SCIM token ${revoked.id} of tenant ${revoked.tenantId}`);
        };
      },
    },
    'tenants group-roles': {
      synopsis: 'tenants group-roles --tenant T (--map GROUP=ROLE[,ROLE]... [--default ROLE...] | --file FILE.json | --none)',
      summary: "how the tenant's SCIM groups give roles: a member's roles are those of all its groups, or the defaults when none maps",
      details: [
        '--map GROUP=ROLES    a group (its displayName, externalId or id) and the roles it gives (repeatable)',
        '--default ROLE       the roles of a user none of whose groups maps (repeatable)',
        '--file FILE.json     {"groupRoles": {"GROUP": ["role"]}, "defaults": ["role"]} instead of --map/--default',
        '--none               remove the mapping: SCIM groups change no roles',
      ],
      options: { tenant: str, id: str, map: strs, default: strs, file: str, none: bool },
      async prepare(args) {
        const tenantId = args.string('tenant') ?? args.required('id');
        const file = args.string('file');
        const given = [args.strings('map').length > 0 || args.strings('default').length > 0, file !== undefined, args.flag('none')].filter(Boolean).length;
        if (given !== 1) throw kit.inputError('give --map/--default, or --file FILE.json, or --none');
        let roles = args.flag('none') ? undefined : input(() => directoryRolesFromPairs(args.strings('map'), args.strings('default')));
        if (file !== undefined) {
          const text = await readFile(resolve(process.env.INIT_CWD ?? process.cwd(), file), 'utf8').catch(() => {
            throw kit.inputError(`--file ${file}: cannot be read`);
          });
          roles = input(() => {
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              throw new AppError('invalid_request', `--file ${file}: not JSON`);
            }
            return parseDirectoryRoles(json);
          });
        }
        return async (context) => {
          const tenant = await setDirectoryRoles(context.runtime, tenantId, roles);
          kit.print(context, tenant, () =>
            fields([
              ['tenant', tenant.id],
              ['group roles', tenant.directoryRoles ? Object.entries(tenant.directoryRoles.groupRoles).map(([g, r]) => `${g} = ${r.join(', ')}`) : '(none: SCIM groups change no roles)'],
              ['defaults', tenant.directoryRoles?.defaults.length ? tenant.directoryRoles.defaults.join(', ') : undefined],
            ]),
          );
        };
      },
    },
  };
}
