import { describe, expect, it } from 'vitest';
import {
  MAX_PENDING_LOGINS,
  OidcLoginStateStore,
  PENDING_LOGIN_TTL_MS,
  type LoginSessionData,
} from './oidc-login-state.store';

describe('OidcLoginStateStore', () => {
  const key = 'oidc-login:main';

  it('keeps a pending login under its key and gives it back once for its handle', () => {
    const store = new OidcLoginStateStore(key);
    const session: LoginSessionData = { other: 1 };
    const handle = store.save(session, { nonce: 'n-1', codeVerifier: 'v-1' });
    expect(handle).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session[key]).toHaveLength(1);

    expect(store.take(session, handle)).toMatchObject({
      handle,
      nonce: 'n-1',
      codeVerifier: 'v-1',
    });
    expect(session).toEqual({ other: 1 });
    expect(store.take(session, handle)).toBeUndefined();
  });

  it('refuses a missing, foreign or ill-typed state without consuming the others', () => {
    const store = new OidcLoginStateStore(key);
    const session: LoginSessionData = {};
    const handle = store.save(session, { nonce: 'n' });
    for (const bad of [undefined, '', 'x', handle.slice(1), `${handle}x`, ['a'], {}, '__proto__']) {
      expect(store.take(session, bad)).toBeUndefined();
    }
    expect(store.take(session, handle)).toMatchObject({ nonce: 'n' });
  });

  it('keeps several logins (tabs), at most a few, dropping the oldest', () => {
    const store = new OidcLoginStateStore(key);
    const session: LoginSessionData = {};
    const handles = Array.from({ length: MAX_PENDING_LOGINS + 2 }, (_, i) =>
      store.save(session, { nonce: `n-${i}` }),
    );
    expect(session[key]).toHaveLength(MAX_PENDING_LOGINS);
    expect(store.take(session, handles[0])).toBeUndefined();
    expect(store.take(session, handles[1])).toBeUndefined();
    expect(store.take(session, handles.at(-1))).toMatchObject({ nonce: `n-${handles.length - 1}` });
    expect(store.take(session, handles[2])).toMatchObject({ nonce: 'n-2' });
  });

  it('refuses a login older than its lifetime', () => {
    let now = 1_000_000;
    const store = new OidcLoginStateStore(key, () => now);
    const session: LoginSessionData = {};
    const handle = store.save(session, { nonce: 'n' });
    now += PENDING_LOGIN_TTL_MS;
    expect(store.take(session, handle)).toBeUndefined();
    expect(session[key]).toBeUndefined();
  });

  it('ignores what it did not write (junk under its key, entries without a nonce)', () => {
    const store = new OidcLoginStateStore(key);
    const session: LoginSessionData = { [key]: 'junk' };
    expect(store.take(session, 'x')).toBeUndefined();
    const noNonce = { handle: 'h', nonce: '', expiresAt: Date.now() + 60_000 };
    const withNonce = { ...noNonce, nonce: 'n' };
    const planted: LoginSessionData = { [key]: [noNonce, null, 42, withNonce] };
    expect(store.take(planted, 'h')).toEqual(withNonce);
  });

  it('takes a handle once even from two copies of the session (two requests at once)', () => {
    const store = new OidcLoginStateStore(key);
    const session: LoginSessionData = {};
    const handle = store.save(session, { nonce: 'n' });
    const first = structuredClone(session);
    const second = structuredClone(session);
    expect(store.take(first, handle)).toMatchObject({ nonce: 'n' });
    expect(store.take(second, handle)).toBeUndefined();
    expect(second[key]).toBeUndefined();
  });

  it('remembers taken handles only until their login would have expired', () => {
    let now = 1_000_000;
    const store = new OidcLoginStateStore(key, () => now);
    const session: LoginSessionData = {};
    const handle = store.save(session, { nonce: 'n' });
    const copy = structuredClone(session);
    expect(store.take(session, handle)).toBeDefined();
    now += PENDING_LOGIN_TTL_MS;
    // Expired anyway: refused by its own expiry, and forgotten by the next take.
    expect(store.take(copy, handle)).toBeUndefined();
    const other = store.save(session, { nonce: 'm' });
    expect(store.take(session, other)).toMatchObject({ nonce: 'm' });
  });
});
