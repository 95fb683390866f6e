import { AppError } from '../errors';
import type { SamlConnection } from '../model';
import type { AssertedIdentity } from '../provisioning';
import type { VerifiedAssertion } from './verify-response';

const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';

/**
 * The identity a verified assertion asserts for a connection. Its subject is what identifies the
 * user at every login: the NameID, or the one attribute the connection names instead
 * (`subjectAttribute`: Entra's objectidentifier, an eduPersonPrincipalName, an employee id). A
 * transient NameID changes at every login, so it cannot be the subject: such a login is refused
 * rather than creating a user that the next login could not find. A SAML IdP vouches for the
 * emails it asserts; `allowedEmailDomains` bounds which it may link.
 *
 * @throws AppError `saml_transient_subject`, `missing_required_attribute` (the subject attribute is
 *   absent), `invalid_request` (it has several values).
 */
export function samlIdentity(connection: SamlConnection, assertion: VerifiedAssertion): AssertedIdentity {
  const identity = { attributes: assertion.attributes, emailVerified: true };
  const name = connection.subjectAttribute;
  if (name === undefined) {
    if (assertion.nameIdFormat === TRANSIENT) {
      throw new AppError(
        'saml_transient_subject',
        'the identity provider sent a transient NameID, which changes at every sign-in; have it send a persistent (or email) NameID, or name the attribute that identifies users with `connections update --id ' +
          `${connection.id} --subject-attribute NAME\``,
      );
    }
    return { ...identity, subject: assertion.nameId };
  }
  const values = [...new Set(Object.hasOwn(assertion.attributes, name) ? assertion.attributes[name] : [])];
  if (values.length === 0) throw new AppError('missing_required_attribute', `the identity provider did not send "${name}", the attribute that identifies users of this connection`);
  if (values.length > 1) throw new AppError('invalid_request', `the identity provider sent several values of "${name}", the attribute that identifies users of this connection`);
  return { ...identity, subject: values[0]! };
}
