/**
 * The admin CLI's `apply --file`: tenants and connections as a JSON or YAML file says.
 */
import { planConfiguration, type PlanStep } from '../../functions/core/admin/apply';
import type { SetupLinkInfo } from '../../functions/core/admin/setup-links';
import { parseConfiguration, parseConfigurationText } from '../../functions/core/admin/apply-file';
import { table } from '../../functions/core/admin/describe';
import { bool, input, note, print, str, type Commands } from './cli';

/** The apply command, keyed as bin/admin.ts's command table keys them. */
export const applyCommands: Commands = {
  apply: {
    synopsis: 'apply --file FILE [--dry-run] [--prune]',
    summary: "make the tenants and connections what a JSON or YAML file says (prints the plan and the tenants' setup links, then applies it; applying it again changes nothing)",
    details: [
      '--file FILE          { tenants: [{ id, name, seatLimit, domains, defaultConnection, directoryRoles }], connections: [{ id, tenantId, protocol, ... }] } (.json: JSON, otherwise YAML)',
      '--dry-run            print the plan, write nothing',
      '--prune              also remove the connections, and release the email domains, of the file\'s tenants that the file does not list (tenants are never removed)',
    ],
    options: { file: str, 'dry-run': bool, prune: bool },
    async prepare(args, io) {
      const name = args.required('file');
      const text = await args.readFile('file');
      const configuration = await input(`--file ${name}`, () => parseConfiguration(parseConfigurationText(text, name)));
      const dryRun = args.flag('dry-run');
      return async (context) => {
        const plan = await input(`--file ${name}`, () => planConfiguration(context.runtime, configuration, { prune: args.flag('prune'), ...(io.fetch ? { fetch: io.fetch } : {}) }));
        const changes = plan.steps.filter((step) => step.action !== 'unchanged').length;
        if (!context.json) {
          print(context, plan.steps, () => table(['KIND', 'ID', 'ACTION'], plan.steps.map((s) => [s.kind, s.id, describeStep(s)])));
          if (plan.setupLinks.length) print(context, null, () => `setup links (not in the file; setup-links create|list|revoke manage them):\n${setupLinkTable(plan.setupLinks)}`);
        }
        for (const warning of plan.warnings) note(context, warning);
        if (!dryRun) await plan.apply();
        if (context.json) print(context, { dryRun, applied: !dryRun && changes > 0, steps: plan.steps, warnings: plan.warnings, setupLinks: plan.setupLinks }, () => '');
        else print(context, null, () => (changes === 0 ? 'nothing to change' : dryRun ? `dry run: ${changes} change(s) planned, nothing was written` : `applied ${changes} change(s)`));
      };
    },
  },
};

/** The tenants' setup links for a person: never their URLs. */
const setupLinkTable = (links: readonly SetupLinkInfo[]) =>
  table(['TENANT', 'ID', 'PROTOCOL', 'STATUS', 'CONNECTION', 'VALID UNTIL'], links.map((l) => [l.tenantId, l.id, l.protocol, l.status, l.connectionId ?? '', l.validUntil]));

/** A plan step for a person: its action, the members that change, and the domains claimed (+) and released (-). */
function describeStep(step: PlanStep): string {
  const domains = step.domains ? ` (${[...step.domains.claim.map((d) => `+${d}`), ...step.domains.release.map((d) => `-${d}`)].join(' ')})` : '';
  return `${step.fields ? `${step.action}: ${step.fields.join(', ')}` : step.action}${domains}`;
}
