import { evaluateIdentity, refused, type LoginEvaluation } from '../evaluate';
import type { SamlConnection } from '../model';
import type { AssertedIdentity } from '../provisioning';
import type { Runtime } from '../runtime';
import { samlChecks } from './login';
import { samlIdentity } from './subject';
import { verifySamlResponse } from './verify-response';

/**
 * Evaluates a SAML response as the ACS would read it: verified completely (signature, audience,
 * recipient…) at `at`, by default the response's own IssueInstant so an old capture still reads,
 * but without consuming its AuthnRequest or recording it in the replay cache.
 *
 * @throws AppError of `verifySamlResponse`'s codes when the response itself does not verify.
 */
export async function evaluateSamlResponse(runtime: Runtime, connection: SamlConnection, samlResponse: string, at?: Date): Promise<LoginEvaluation> {
  const issueInstant = /IssueInstant="([^"]+)"/.exec(Buffer.from(samlResponse.replace(/\s+/g, ''), 'base64').toString('utf8'))?.[1];
  const when = at ?? (issueInstant ? new Date(issueInstant) : runtime.clock());
  const assertion = await verifySamlResponse(samlResponse, await samlChecks(runtime, connection, when));
  let identity: AssertedIdentity;
  try {
    identity = samlIdentity(connection, assertion);
  } catch (error) {
    return refused({ subject: assertion.nameId, attributes: assertion.attributes, emailVerified: true }, error);
  }
  return evaluateIdentity(runtime, connection, identity);
}
