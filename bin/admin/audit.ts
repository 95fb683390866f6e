/**
 * The admin CLI's `audit list`: a tenant's audit trail, for a person to read.
 */
import { describeAuditEvent, listAuditEvents, parseSince } from '../../functions/core/admin/audit';
import { requireUser } from '../../functions/core/admin/users';
import { input, print, str, type Commands } from './cli';

/** The audit commands, keyed as bin/admin.ts's command table keys them. */
export const auditCommands: Commands = {
  'audit list': {
    synopsis: 'audit list --tenant TENANT [--since 7d|ISO] [--type TYPE] [--user USER|EMAIL]',
    summary: "the tenant's audit trail, oldest first: logins, refusals with their codes, provisioning changes (kept 90 days)",
    details: ['--since 7d|ISO       from when: an age (30m, 12h, 7d) or an ISO date or instant (default 7d)', '--type TYPE          one event type, e.g. login.refused or user.created', '--user USER|EMAIL    one user, by id or by email'],
    options: { tenant: str, since: str, type: str, user: str },
    prepare(args) {
      const tenantId = args.required('tenant');
      const since = args.string('since');
      const type = args.string('type');
      const user = args.string('user');
      return async (context) => {
        const now = context.runtime.clock();
        const sinceDate = since === undefined ? undefined : await input('--since', () => parseSince(since, now));
        const userId = user === undefined ? undefined : user.includes('@') ? (await requireUser(context.runtime.store, { tenantId, email: user })).id : user;
        const events = await listAuditEvents(context.runtime.store, { tenantId, now, ...(sinceDate ? { since: sinceDate } : {}), ...(type ? { type } : {}), ...(userId ? { userId } : {}) });
        print(context, events, () => (events.length ? events.map(describeAuditEvent).join('\n') : '(no events)'));
      };
    },
  },
};

