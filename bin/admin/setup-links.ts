/**
 * The admin CLI's self-serve setup links: `setup-links create|list|revoke`. bin/admin.ts
 * registers them in its table, as it does the SCIM commands.
 */
import { fields, table } from '../../functions/core/admin/describe';
import { createSetupLink, listSetupLinks, parseLifetime, parseSetupProtocol, revokeSetupLink } from '../../functions/core/admin/setup-links';
import { parseReturnTarget } from '../../functions/core/admin/policy';
import { kitInput } from './cli';
import type { CommandKit, scimCommands } from './scim';

type Command = ReturnType<typeof scimCommands>[string];

const str = { type: 'string' } as const;
const strs = { type: 'string', multiple: true } as const;

/** The setup-link commands, keyed as bin/admin.ts's command table keys them. */
export function setupLinkCommands(kit: CommandKit): Readonly<Record<string, Command>> {
  const input = <T>(parse: () => T): T => kitInput(kit, parse);
  return {
    'setup-links create': {
      synopsis: 'setup-links create --tenant T [--protocol saml|oidc|scim] [--expires 7d] [--return-to URL...]',
      summary: "a link to send the tenant's IT admin, who configures the tenant's SSO there; printed once, stored only as a hash (--json: {\"id\",\"url\",...})",
      details: ['--protocol P   what the link configures: saml (default), oidc or scim', '--expires D    how long it works: 30m, 12h, 7d (default 7d, at most 30d)', '--return-to U  where the connection may send people after sign-in (repeatable; default SESSION_AUDIENCE)'],
      options: { tenant: str, protocol: str, expires: str, 'return-to': strs },
      prepare(args) {
        const tenantId = args.required('tenant');
        const protocol = input(() => parseSetupProtocol(args.string('protocol') ?? 'saml'));
        const lifetimeSeconds = input(() => parseLifetime(args.string('expires') ?? '7d'));
        const returnTo = input(() => args.strings('return-to').map((target) => parseReturnTarget(target, '--return-to')));
        return async (context) => {
          const link = await createSetupLink(context.runtime, { tenantId, protocol, lifetimeSeconds, returnTo, now: context.runtime.clock() });
          const { token: _token, ...shown } = link;
          kit.print(context, shown, () =>
            fields([
              ['url', link.url],
              ['id', link.id],
              ['tenant', link.tenantId],
              ['protocol', link.protocol],
              ['connection', link.connectionId],
              ['valid until', link.validUntil],
              ['note', 'this is the only time the URL is shown: send it to the IT admin now (revoke it with setup-links revoke --id)'],
            ]),
          );
        };
      },
    },
    'setup-links list': {
      synopsis: 'setup-links list --tenant T',
      summary: "the tenant's setup links (ids, status and dates; never their URLs)",
      options: { tenant: str },
      prepare(args) {
        const tenantId = args.required('tenant');
        return async (context) => {
          const links = await listSetupLinks(context.runtime.store, tenantId, context.runtime.clock());
          kit.print(context, links, () => table(['ID', 'PROTOCOL', 'STATUS', 'CONNECTION', 'VALID UNTIL'], links.map((l) => [l.id, l.protocol, l.status, l.connectionId ?? '', l.validUntil])));
        };
      },
    },
    'setup-links revoke': {
      synopsis: 'setup-links revoke --id ID',
      summary: 'revoke a setup link at once: its next request is refused',
      options: { id: str },
      prepare(args) {
        const id = args.required('id');
        return async (context) => {
          const revoked = await revokeSetupLink(context.runtime.store, id, context.runtime.clock());
          kit.print(context, { revoked: revoked.id, tenantId: revoked.tenantId }, () => `revoked setup link ${revoked.id} of tenant ${revoked.tenantId}`);
        };
      },
    },
  };
}
