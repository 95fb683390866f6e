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
});
