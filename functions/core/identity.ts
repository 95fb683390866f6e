import { AppError } from './errors';

/**
 * The rules for the two fields that decide who someone is: the subject an IdP signs and the
 * email it asserts. Neither is ever repaired (trimmed, case-folded for matching, re-encoded):
 * a value that needs repair is refused, so two different signed values can never meet in one
 * stored key, and one mailbox is one key however the IdP spells its case.
 */

/** Characters that can make two different strings look, or after a careless trim compare, the same. */
const CONTROL = /\p{Cc}/u;
/** In a `u` pattern a surrogate pair is one code point, so this matches only a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;
const EDGE_INVISIBLE = /^[\s\p{Cf}]|[\s\p{Cf}]$/u;
const INVISIBLE = /[\s\p{Cc}\p{Cf}\p{Z}]/u;

/** DynamoDB allows 2048 bytes in a partition key; the connection id and the prefix need some of them. */
export const MAX_SUBJECT_BYTES = 1024;

/**
 * The subject an IdP asserted (a SAML NameID or subject attribute, an OIDC `sub`), as it will be
 * matched: byte for byte. A subject with whitespace or invisible characters at either end, a
 * control character anywhere, or text that is not well-formed Unicode (a lone surrogate, which
 * UTF-8 would turn into U+FFFD and so merge with another subject) is refused, never repaired.
 *
 * @throws AppError `invalid_request` naming what is wrong with the subject.
 */
export function checkSubject(subject: string): string {
  if (subject === '') throw new AppError('invalid_request', 'the identity provider asserted an empty subject');
  if (LONE_SURROGATE.test(subject)) throw new AppError('invalid_request', 'the asserted subject is not well-formed Unicode');
  if (CONTROL.test(subject)) throw new AppError('invalid_request', 'the asserted subject contains a control character');
  if (EDGE_INVISIBLE.test(subject)) {
    throw new AppError('invalid_request', 'the asserted subject begins or ends with whitespace or an invisible character; subjects are matched exactly as signed');
  }
  if (Buffer.byteLength(subject, 'utf8') > MAX_SUBJECT_BYTES) {
    throw new AppError('invalid_request', `the asserted subject is longer than ${MAX_SUBJECT_BYTES} bytes`);
  }
  return subject;
}

/** Unicode NFC and lowercase, so one mailbox is one key however the IdP spells it. It does not repair: see `parseEmail`. */
export function normalizeEmail(email: string): string {
  return email.normalize('NFC').toLowerCase();
}

/** One local part, one `@`, a dotted domain: nothing more is needed to tell an address from an opaque id. */
const ADDRESS = /^[^@]+@[^@.]+(\.[^@.]+)+$/;

/**
 * An email address as the service keeps it (normalized), or why the value is not one. A value
 * with whitespace, control or invisible characters anywhere, or that is not well-formed Unicode,
 * is not an address, even where trimming would make one: it is refused, never repaired.
 */
export function parseEmail(value: string): { email: string } | { problem: string } {
  if (LONE_SURROGATE.test(value) || INVISIBLE.test(value)) return { problem: 'contains whitespace, control or invisible characters' };
  if (value.length > 254 || !ADDRESS.test(value)) return { problem: 'is not an email address' };
  return { email: normalizeEmail(value) };
}
