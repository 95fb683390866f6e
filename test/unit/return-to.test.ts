import { allowedReturnTo } from '../../functions/core/sessions';

const ALLOWLIST = ['https://app.example.test/', 'https://admin.example.test/console'];

describe('return_to allowlist', () => {
  it.each([
    ['https://app.example.test/dash?x=1', 'https://app.example.test/dash?x=1'],
    ['/dash', 'https://app.example.test/dash'],
    ['https://admin.example.test/console', 'https://admin.example.test/console'],
    ['https://admin.example.test/console/users', 'https://admin.example.test/console/users'],
  ])('follows %s', (target, expected) => {
    expect(allowedReturnTo(target, ALLOWLIST)).toBe(expected);
  });

  it('defaults to the first entry', () => {
    expect(allowedReturnTo(undefined, ALLOWLIST)).toBe('https://app.example.test/');
  });

  it.each([
    'https://evil.example.test/',
    '//evil.example.test/dash',
    'https://app.example.test.evil.test/',
    'https://admin.example.test/console-evil',
    'https://user:pass@app.example.test/',
    'javascript:alert(1)',
    'http://app.example.test/',
    'not a url',
  ])('refuses %s with forbidden_return_to', (target) => {
    expect(() => allowedReturnTo(target, ALLOWLIST)).toThrow(expect.objectContaining({ code: 'forbidden_return_to' }));
  });

  it('defaults an empty target to the first entry too', () => {
    expect(allowedReturnTo('', ALLOWLIST)).toBe('https://app.example.test/');
  });

  it('refuses every target, even none, when the allowlist is empty', () => {
    for (const target of [undefined, '', '/dash', 'https://app.example.test/']) {
      expect(() => allowedReturnTo(target, [])).toThrow(expect.objectContaining({ code: 'forbidden_return_to' }));
    }
  });

  it.each(['https://evil@app.example.test/', 'https://:pw@app.example.test/'])('refuses %s, a user name or password alone', (target) => {
    expect(() => allowedReturnTo(target, ALLOWLIST)).toThrow(expect.objectContaining({ code: 'forbidden_return_to' }));
  });

  it('follows only http and https, even where the allowlist names another scheme', () => {
    expect(() => allowedReturnTo('ftp://files.example.test/x', ['ftp://files.example.test/'])).toThrow(expect.objectContaining({ code: 'forbidden_return_to' }));
    expect(allowedReturnTo('http://localhost:3000/x', ['http://localhost:3000/'])).toBe('http://localhost:3000/x');
  });

  it('resolves a relative target against the first entry, and answers the URL normalized', () => {
    expect(allowedReturnTo('/a/../dash?q=1#top', ALLOWLIST)).toBe('https://app.example.test/dash?q=1#top');
    expect(allowedReturnTo('HTTPS://APP.example.test/x', ALLOWLIST)).toBe('https://app.example.test/x');
    expect(() => allowedReturnTo('/console', ['https://admin.example.test/console', 'https://app.example.test/'])).not.toThrow();
    expect(() => allowedReturnTo('/dash', ['https://admin.example.test/console', 'https://app.example.test/'])).toThrow(expect.objectContaining({ code: 'forbidden_return_to' }));
  });
});
