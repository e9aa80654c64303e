import { describe, expect, it } from 'vitest';
import { logoutCallbackVerdict } from './logout-callback.handler';
import { requestPath } from './rp-initiated-logout.handler';

describe('logoutCallbackVerdict', () => {
  it('matches exactly one state equal to a state cookie', () => {
    expect(logoutCallbackVerdict(['abc'], ['abc'])).toBe('match');
    expect(logoutCallbackVerdict(['abc'], ['old', 'abc'])).toBe('match');
  });

  it('refuses a different, empty or repeated state, or a state without cookie', () => {
    expect(logoutCallbackVerdict(['abd'], ['abc'])).toBe('mismatch');
    expect(logoutCallbackVerdict(['abc'], [])).toBe('mismatch');
    expect(logoutCallbackVerdict([''], [''])).toBe('mismatch');
    expect(logoutCallbackVerdict(['abc', 'abc'], ['abc'])).toBe('mismatch');
  });

  it('treats a missing state as absent, cookie or not', () => {
    expect(logoutCallbackVerdict([], [])).toBe('absent');
    expect(logoutCallbackVerdict([], ['abc'])).toBe('absent');
  });
});

describe('requestPath', () => {
  it('is the local path a request was served at, without query', () => {
    expect(requestPath({ originalUrl: '/api/logout?x=1', url: '/logout' })).toBe('/api/logout');
    expect(requestPath({ url: '/logout' })).toBe('/logout');
    expect(requestPath({ url: '//evil.example/x' })).toBe('/');
    expect(requestPath({ url: '/\\evil' })).toBe('/');
    expect(requestPath({})).toBe('/');
  });
});
