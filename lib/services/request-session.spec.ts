import { describe, expect, it } from 'vitest';
import { destroySession, sessionIdOf, sessionMaxAgeMs } from './request-session';

describe('sessionIdOf', () => {
  it('reads express-session and @fastify/session ids', () => {
    expect(sessionIdOf({ sessionID: 'abc' })).toBe('abc');
    expect(sessionIdOf({ session: { sessionId: 'def' } })).toBe('def');
    expect(sessionIdOf({ session: { id: 'ghi' } })).toBe('ghi');
  });

  it('is undefined without a session or with an empty id', () => {
    expect(sessionIdOf({})).toBeUndefined();
    expect(sessionIdOf({ sessionID: '' })).toBeUndefined();
  });
});

describe('sessionMaxAgeMs', () => {
  it('is the cookie maxAge only when finite and positive', () => {
    expect(sessionMaxAgeMs({ session: { cookie: { maxAge: 1000 } } })).toBe(1000);
    expect(sessionMaxAgeMs({ session: { cookie: { maxAge: null } } })).toBeUndefined();
    expect(sessionMaxAgeMs({ session: { cookie: { maxAge: -5 } } })).toBeUndefined();
    expect(sessionMaxAgeMs({})).toBeUndefined();
  });
});

describe('destroySession', () => {
  it('destroys the session and resolves with the store error, if any', async () => {
    let destroyed = 0;
    const ok = { session: { destroy: (cb: (e?: unknown) => void) => (destroyed++, cb()) } };
    await expect(destroySession(ok)).resolves.toBeUndefined();
    const failure = new Error('store down');
    const bad = { session: { destroy: (cb: (e?: unknown) => void) => (destroyed++, cb(failure)) } };
    await expect(destroySession(bad)).resolves.toBe(failure);
    const throwing = {
      session: {
        destroy: () => {
          throw failure;
        },
      },
    };
    await expect(destroySession(throwing)).resolves.toBe(failure);
    expect(destroyed).toBe(2);
  });

  it('does nothing without a session', async () => {
    await expect(destroySession({})).resolves.toBeUndefined();
  });
});
