/**
 * The admin CLI's `evaluate`: what a login would do, writing nothing.
 */
import { requireConnection } from '../../functions/core/admin/connections';
import { describeLoginReport } from '../../functions/core/admin/describe';
import { evaluateLoginInput, parseClaims, samlResponseFromText, type LoginInput } from '../../functions/core/admin/evaluation';
import { input, note, print, str, UsageError, type Commands } from './cli';

/** The evaluate command, keyed as bin/admin.ts's command table keys them. */
export const evaluateCommands: Commands = {
  evaluate: {
    synopsis: 'evaluate --connection C (--response FILE [--at ISO] | --claims FILE.json)',
    summary: 'what a login would do: the user, attributes and roles it would produce and what it would change; writes nothing (exit 1 when it would be refused)',
    details: [
      '--response FILE      a SAMLResponse: base64, raw XML, or a form body SAMLResponse=...; verified in full',
      '--at ISO             the instant to verify it at (default: its IssueInstant, so an old capture still reads)',
      '--claims FILE.json   OIDC claims (an ID token\'s or userinfo\'s payload), with a "sub"',
    ],
    options: { connection: str, response: str, claims: str, at: str },
    async prepare(args) {
      const connectionId = args.required('connection');
      const response = args.string('response');
      const claims = args.string('claims');
      if ((response === undefined) === (claims === undefined)) throw new UsageError('give either --response FILE (SAML) or --claims FILE.json (OIDC)');
      let login: LoginInput;
      if (response !== undefined) {
        const text = await args.readFile('response');
        const at = args.string('at');
        const instant = at === undefined ? undefined : new Date(at);
        if (instant && Number.isNaN(instant.getTime())) throw new UsageError(`--at must be an ISO 8601 instant, got "${at}"`);
        login = { samlResponse: await input(`--response ${response}`, () => samlResponseFromText(text)), ...(instant ? { at: instant } : {}) };
      } else {
        if (args.string('at') !== undefined) throw new UsageError('--at is for SAML responses; claims are evaluated as they are');
        const json = await args.readJson('claims');
        login = { claims: await input(`--claims ${claims}`, () => parseClaims(json)) };
      }
      return async (context) => {
        const connection = await requireConnection(context.runtime.store, connectionId);
        const report = await input(response !== undefined ? `--response ${response}` : `--claims ${claims}`, () => evaluateLoginInput(context.runtime, connection, login));
        print(context, report, () => `${describeLoginReport(report)}\n(nothing was written)`);
        if (!connection.enabled) note(context, 'the connection is disabled: a real login would be refused (unknown_connection)');
        if (report.evaluation.refusal) {
          context.io.stderr.write(`refused: ${report.evaluation.refusal.code}${report.evaluation.refusal.detail ? `: ${report.evaluation.refusal.detail}` : ''}\n`);
          return 1;
        }
        return connection.enabled ? 0 : 1;
      };
    },
  },
};

