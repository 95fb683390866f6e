import type { AssertedIdentity } from '../provisioning';

/** The identity OIDC claims assert: `sub`, the claims as attribute lists, and whether the email is vouched for. */
export function oidcIdentity(claims: Readonly<Record<string, unknown>>): AssertedIdentity {
  // No prototype: a claim named "__proto__" or "constructor" is just a name.
  const attributes: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [name, value] of Object.entries(claims)) {
    const values = (Array.isArray(value) ? value : [value]).filter((v) => ['string', 'number', 'boolean'].includes(typeof v)).map(String);
    if (values.length) attributes[name] = values;
  }
  // Entra ID marks a verified email with xms_edov rather than email_verified.
  return { subject: String(claims.sub ?? ''), attributes, emailVerified: claims.email_verified === true || claims.xms_edov === true };
}
