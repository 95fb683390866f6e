import { checkEntraTenant, idTokenAlgorithms } from '../../functions/core/oidc/relying-party';
import type { OidcConnection } from '../../functions/core/model';

const TEMPLATE = 'https://login.microsoftonline.com/{tenantid}/v2.0';
const ALLOWED = '9188040d-6c67-4c5b-b112-36a304b66dad';

describe('Entra ID multi-tenant issuer', () => {
  it('accepts a token of an allowed directory whose iss is the template filled with its tid', () => {
    expect(() => checkEntraTenant(TEMPLATE, { tid: ALLOWED, iss: `https://login.microsoftonline.com/${ALLOWED}/v2.0` }, [ALLOWED])).not.toThrow();
  });

  it('refuses a token of a directory the connection does not allow', () => {
    const other = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    expect(() => checkEntraTenant(TEMPLATE, { tid: other, iss: `https://login.microsoftonline.com/${other}/v2.0` }, [ALLOWED])).toThrow(
      expect.objectContaining({ code: 'oidc_invalid_id_token' }),
    );
  });

  it('refuses a token whose iss is not the template filled with its own tid', () => {
    expect(() => checkEntraTenant(TEMPLATE, { tid: ALLOWED, iss: 'https://login.microsoftonline.com/someone-else/v2.0' }, [ALLOWED])).toThrow(
      expect.objectContaining({ code: 'oidc_invalid_id_token' }),
    );
  });

  it('refuses every directory when a multi-tenant connection lists none', () => {
    expect(() => checkEntraTenant(TEMPLATE, { tid: ALLOWED, iss: `https://login.microsoftonline.com/${ALLOWED}/v2.0` }, undefined)).toThrow(
      expect.objectContaining({ code: 'oidc_invalid_id_token' }),
    );
  });

  it('leaves single-tenant issuers to the usual iss check', () => {
    expect(() => checkEntraTenant('https://login.microsoftonline.com/fixed/v2.0', {}, undefined)).not.toThrow();
  });
});

describe('ID token algorithms', () => {
  const connection = (idTokenSigningAlgorithms?: string[]) => ({ id: 'c', idTokenSigningAlgorithms }) as unknown as OidcConnection;

  it('defaults to RS256', () => {
    expect(idTokenAlgorithms(connection())).toEqual(['RS256']);
  });

  it.each([['none'], ['HS256'], ['HS512']])('refuses a connection configured to accept %s', (alg) => {
    expect(() => idTokenAlgorithms(connection(['RS256', alg]))).toThrow(/only asymmetric/);
  });
});
