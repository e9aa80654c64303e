import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import { hashSid } from '../repositories/session-id-hash';
import type { PendingOperation } from './pending-operation';
import { PendingLogouts } from './pending-logouts';

const registration = {
  registrationId: 'main',
  issuer: 'https://op.example',
  clientId: 'app',
} as ResolvedClientRegistration;

const logout = (sid?: string, sub?: string): PendingOperation => ({
  kind: 'logout',
  registration,
  logout: { sid, sub, jti: `jti-${sid ?? sub}` },
});

const info = (over: Partial<OidcSessionInfo> = {}): OidcSessionInfo => ({
  clientSessionId: 'h1',
  registrationId: 'main',
  issuer: 'https://op.example',
  clientId: 'app',
  sid: hashSid('s1'),
  sub: 'u1',
  idToken: 'x',
  createdAt: new Date(1_000),
  expiresAt: new Date(9_999_999_999_999),
  ...over,
});

const down = () => Promise.reject(new OidcSessionRepositoryError('down'));

describe('PendingLogouts', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('retries with a doubling pause capped at maxRetryMs until the store takes it', async () => {
    const attempts: number[] = [];
    let up = false;
    const queue = new PendingLogouts({
      apply: () => {
        attempts.push(Date.now());
        return up ? Promise.resolve() : down();
      },
      firstRetryMs: 100,
      maxRetryMs: 400,
    });
    const start = Date.now();
    expect(queue.add('k', logout('s1'), start + 60_000)).toBe(true);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 400);
    expect(attempts.map((t) => t - start)).toEqual([100, 300, 700, 1100]);
    up = true;
    await vi.advanceTimersByTimeAsync(400);
    expect(queue.size).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(attempts).toHaveLength(5);
    queue.close();
  });

  it('is bounded, one entry per key, and drops what outlived keepUntil unapplied', async () => {
    const applied: PendingOperation[] = [];
    let up = false;
    const queue = new PendingLogouts({
      apply: (op) => (up ? (applied.push(op), Promise.resolve()) : down()),
      maxEntries: 2,
      firstRetryMs: 100,
      maxRetryMs: 100,
    });
    const now = Date.now();
    expect(queue.add('a', logout('a'), now + 150)).toBe(true);
    expect(queue.add('a', logout('a'), now + 150)).toBe(true);
    expect(queue.add('b', logout('b'), now + 60_000)).toBe(true);
    expect(queue.add('c', logout('c'), now + 60_000)).toBe(false);
    expect(queue.size).toBe(2);
    await vi.advanceTimersByTimeAsync(200);
    // 'a' expired: room again.
    expect(queue.add('c', logout('c'), now + 60_000)).toBe(true);
    up = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(applied.map((op) => op.kind === 'logout' && op.logout.sid)).toEqual(['b', 'c']);
    queue.close();
  });

  it('wake() tries at once instead of waiting for the backoff', async () => {
    let up = false;
    const queue = new PendingLogouts({
      apply: () => (up ? Promise.resolve() : down()),
      firstRetryMs: 10_000,
      maxRetryMs: 10_000,
    });
    queue.add('k', logout('s1'), Date.now() + 60_000);
    up = true;
    queue.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(queue.size).toBe(0);
    queue.close();
  });

  it('matches the records a pending logout or forgotten login ends, and no others', () => {
    const queue = new PendingLogouts({ apply: down });
    queue.add('sid', logout('s1'), Date.now() + 60_000);
    queue.add('sub', logout(undefined, 'u2'), Date.now() + 60_000);
    queue.add(
      'login',
      { kind: 'forget-login', clientSessionId: 'h9', createdAt: 5_000 },
      Date.now() + 60_000,
    );
    expect(queue.matches(info())).toBe(true);
    expect(queue.matches(info({ sid: hashSid('s2') }))).toBe(false);
    // Records keep the sid's digest: a record holding the sid in clear is not what a logout names.
    expect(queue.matches(info({ sid: 's1' }))).toBe(false);
    expect(queue.matches(info({ sid: hashSid('s1'), clientId: 'other' }))).toBe(false);
    expect(queue.matches(info({ sid: hashSid('s1'), issuer: 'https://other.example' }))).toBe(
      false,
    );
    expect(queue.matches(info({ sid: hashSid('s3'), sub: 'u2' }))).toBe(true);
    expect(
      queue.matches(
        info({ sid: hashSid('s3'), clientSessionId: 'h9', createdAt: new Date(5_000) }),
      ),
    ).toBe(true);
    // A later login of the same session is not the half-recorded one.
    expect(
      queue.matches(
        info({ sid: hashSid('s3'), clientSessionId: 'h9', createdAt: new Date(6_000) }),
      ),
    ).toBe(false);
    expect(queue.close()).toBe(3);
    expect(queue.matches(info())).toBe(false);
    expect(queue.add('again', logout('s1'), Date.now() + 60_000)).toBe(false);
  });

  it('an entry that keeps failing goes to the back and does not hold the others up', async () => {
    const applied: string[] = [];
    const queue = new PendingLogouts({
      apply: (op) => {
        const sid = op.kind === 'logout' ? op.logout.sid : undefined;
        if (sid === 'poison') return Promise.reject(new TypeError('bad'));
        applied.push(sid ?? '');
        return Promise.resolve();
      },
      firstRetryMs: 100,
      maxRetryMs: 100,
    });
    queue.add('p', logout('poison'), Date.now() + 60_000);
    queue.add('x', logout('x'), Date.now() + 60_000);
    await vi.advanceTimersByTimeAsync(250);
    expect(applied).toEqual(['x']);
    expect(queue.size).toBe(1);
    queue.close();
  });
});
