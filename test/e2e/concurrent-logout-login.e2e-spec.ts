import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryOidcSessionRepository } from '../../lib';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
  type DatabaseKind,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { nowSeconds, signIdToken, signLogoutToken } from '../fixtures/tokens';

/**
 * 1,000 back-channel logout tokens and 1,000 logins for the same 50 users (20 OP sessions each),
 * interleaved over real HTTP against one app, on each repository. The final state must be exactly
 * the one Back-Channel Logout 1.0 demands, whatever order the requests complete in:
 *
 * - a `sid` logout ends that OP session: its login is removed if it was recorded first, refused
 *   (`ERR_SESSION_ENDED`) if it comes after;
 * - a `sub` logout issued at T ends every login of that user whose ID token was issued at or before T,
 *   recorded before or after the logout arrives;
 * - a replayed token changes nothing; a token for nobody changes nothing; every other login lives.
 *
 * The timeline keeps that expectation independent of the completion order. Phase A interleaves the
 * logins of ID tokens issued at T0 with sid logouts (for phase A and phase B sessions), sub logouts
 * issued at T1 > T0 (five distinct tokens per user), duplicate deliveries and tokens for nobody.
 * Phase B, once A is done, interleaves the logins of ID tokens issued at T2 > T1 with sid logouts of
 * phase B sessions, replays of the phase A sub tokens (which must not end these newer logins) and
 * tokens for nobody. No fresh sub logout is sent in phase B: one issued before T2 but delivered after
 * some T2 login is recorded would end it or not depending on the order, as the spec wants.
 *
 * OIDC_LOGOUT_CONCURRENCY (default 32) requests are in flight at a time; OIDC_LOGOUT_CONCURRENCY_SEED
 * fixes the interleaving.
 */

const USERS = 50;
const SESSIONS_PER_USER = 20;
const CONCURRENCY = Number(process.env.OIDC_LOGOUT_CONCURRENCY ?? 32);
const SEED = Number(process.env.OIDC_LOGOUT_CONCURRENCY_SEED ?? 20_261_121);
const CLIENT_ID = 'app-main';
/** `exp` of every token, from now: the phases take seconds, up to a minute on a busy disk. */
const LIFETIME_SECONDS = 600;

interface Session {
  user: number;
  sub: string;
  sid: string;
  phase: 'A' | 'B';
  idToken: string;
  /** The app's session cookie once the login was answered. */
  cookie?: string;
  loginStatus?: number;
  loginCode?: string;
}

type Operation =
  { kind: 'login'; session: Session } | { kind: 'logout'; token: string; label: string };

type Backend = 'memory' | DatabaseKind;
const backends: Backend[] = ['memory', 'sqlite', 'postgres', 'mariadb'];

describe.each(backends)('1,000 logouts and 1,000 logins interleaved (%s repository)', (backend) => {
  if (backend !== 'memory' && !announceDatabase(backend, 'concurrent logout/login e2e')) {
    it.skip(`needs OIDC_LOGOUT_TEST_${backend.toUpperCase()}=1 and a local ${backend} server`, () => {});
    return;
  }

  let keys: TestKeySet;
  let op: FakeOp;
  let dataSource: DataSource | undefined;
  let testApp: TestApp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    dataSource = backend === 'memory' ? undefined : await createTestDataSource(backend);
    testApp = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID }],
        ...(dataSource
          ? { dataSource }
          : { sessionRepository: new InMemoryOidcSessionRepository({ maxEntries: 100_000 }) }),
      },
    });
  });

  afterAll(async () => {
    await testApp?.close();
    if (dataSource) await destroyTestDataSource(dataSource);
    await op?.close();
  });

  it('ends exactly the sessions the spec says, whatever the order of completion', async () => {
    const random = mulberry32(SEED);
    const now = nowSeconds();
    // Tokens live long enough for a slow store to get through both phases.
    const T0 = now - 60;
    const T1 = [now - 55, now - 54, now - 53, now - 52, now - 51];
    const T2 = now - 40;

    const users = Array.from({ length: USERS }, (_, user) => ({
      user,
      sub: `user-${user}-${randomUUID()}`,
    }));
    const sessions: Session[] = [];
    for (const { user, sub } of users) {
      for (let i = 0; i < SESSIONS_PER_USER; i++) {
        const phase = i < SESSIONS_PER_USER / 2 ? 'A' : 'B';
        const sid = `sid-${user}-${i}-${randomUUID()}`;
        const idToken = await signIdToken(keys, {
          iss: op.issuer,
          aud: CLIENT_ID,
          sub,
          sid,
          iat: phase === 'A' ? T0 : T2,
          exp: now + LIFETIME_SECONDS,
        });
        sessions.push({ user, sub, sid, phase, idToken });
      }
    }
    const phaseA = sessions.filter((s) => s.phase === 'A');
    const phaseB = sessions.filter((s) => s.phase === 'B');

    const logout = (claims: { sid?: string; sub?: string; iat?: number }) =>
      signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sub: claims.sub,
        sid: claims.sid,
        claims: {
          ...(claims.sid === undefined ? { sid: undefined } : {}),
          ...(claims.sub === undefined ? { sub: undefined } : {}),
          ...(claims.iat === undefined ? {} : { iat: claims.iat }),
          exp: now + LIFETIME_SECONDS,
        },
      });

    // Phase A tokens (600): 300 sid logouts (150 phase A sessions, 150 phase B sessions not yet
    // logged in), half with the matching sub, half sid alone; 10 users logged out by sub, 5 tokens
    // each; 150 second deliveries of these; 100 tokens for nobody.
    const sidTargetsA = [...pick(random, phaseA, 150), ...pick(random, phaseB, 150)];
    const subLoggedOut = new Set(pick(random, users, 10).map((u) => u.user));
    const tokensA: Array<{ token: string; label: string }> = [];
    for (const [index, s] of sidTargetsA.entries()) {
      tokensA.push({
        token: await logout(index % 2 === 0 ? { sid: s.sid, sub: s.sub } : { sid: s.sid }),
        label: `sid ${s.sid}`,
      });
    }
    const subTokens: Array<{ token: string; label: string }> = [];
    for (const user of subLoggedOut) {
      for (const iat of T1) {
        subTokens.push({
          token: await logout({ sub: users[user]?.sub, iat }),
          label: `sub ${user} at ${iat}`,
        });
      }
    }
    tokensA.push(...subTokens);
    const duplicatesA = pick(random, tokensA, 150).map((t) => ({
      ...t,
      label: `again ${t.label}`,
    }));
    const strangersA = await strangerTokens(100);
    const operationsA: Operation[] = shuffle(random, [
      ...phaseA.map((session): Operation => ({ kind: 'login', session })),
      ...[...tokensA, ...duplicatesA, ...strangersA].map((t): Operation => ({
        kind: 'logout',
        ...t,
      })),
    ]);

    // Phase B tokens (400): 200 sid logouts of phase B sessions not targeted yet, the 50 sub tokens
    // twice more (replays), 100 tokens for nobody.
    const targeted = new Set(sidTargetsA.map((s) => s.sid));
    const sidTargetsB = pick(
      random,
      phaseB.filter((s) => !targeted.has(s.sid)),
      200,
    );
    const tokensB: Array<{ token: string; label: string }> = [];
    for (const [index, s] of sidTargetsB.entries()) {
      tokensB.push({
        token: await logout(index % 2 === 0 ? { sid: s.sid, sub: s.sub } : { sid: s.sid }),
        label: `sid ${s.sid}`,
      });
    }
    const replaysB = [...subTokens, ...subTokens].map((t) => ({
      ...t,
      label: `replay ${t.label}`,
    }));
    const strangersB = await strangerTokens(100);
    const operationsB: Operation[] = shuffle(random, [
      ...phaseB.map((session): Operation => ({ kind: 'login', session })),
      ...[...tokensB, ...replaysB, ...strangersB].map((t): Operation => ({ kind: 'logout', ...t })),
    ]);

    const all = [...operationsA, ...operationsB];
    expect(all.filter((o) => o.kind === 'login')).toHaveLength(1_000);
    expect(all.filter((o) => o.kind === 'logout')).toHaveLength(1_000);

    const started = performance.now();
    await run(operationsA);
    const phaseAMs = performance.now() - started;
    await run(operationsB);
    const totalMs = performance.now() - started;

    // The expected state: ended iff its sid was logged out, or its user was logged out by sub after
    // its ID token was issued (phase A logins only: every sub token was issued before T2).
    const sidLoggedOut = new Set([...sidTargetsA, ...sidTargetsB].map((s) => s.sid));
    const ended = (s: Session) =>
      sidLoggedOut.has(s.sid) || (subLoggedOut.has(s.user) && s.phase === 'A');

    // Logins: every session that nothing ended was recorded; those ended before they could be
    // recorded were refused with ERR_SESSION_ENDED, never another error.
    for (const s of sessions) {
      const context = `${s.phase} ${s.sid} user ${s.user}`;
      if (!ended(s)) {
        expect(s.loginStatus, context).toBe(200);
      } else {
        expect([200, 400], context).toContain(s.loginStatus);
        if (s.loginStatus === 400) expect(s.loginCode, context).toBe('ERR_SESSION_ENDED');
      }
      // A phase B session logged out in phase A was ended before its login: always refused.
      if (s.phase === 'B' && targeted.has(s.sid)) expect(s.loginStatus, context).toBe(400);
    }

    // The final state, through the guard.
    const actual = await Promise.all(sessions.map(async (s) => ({ s, active: await isActive(s) })));
    const survivedRevocation = actual.filter(({ s, active }) => active && ended(s));
    const lost = actual.filter(({ s, active }) => !active && !ended(s));
    const alive = actual.filter(({ active }) => active).length;
    console.log(
      `[concurrency ${backend}] ${sessions.length} logins + 1000 logout tokens, ${CONCURRENCY} in flight: ` +
        `phase A ${phaseAMs.toFixed(0)} ms, total ${totalMs.toFixed(0)} ms; ` +
        `${alive} sessions alive (${sessions.filter((s) => !ended(s)).length} expected), ` +
        `${sessions.filter((s) => s.loginStatus === 400).length} logins refused as already ended`,
    );
    expect(survivedRevocation.map(({ s }) => `${s.phase} ${s.sid}`)).toEqual([]);
    expect(lost.map(({ s }) => `${s.phase} ${s.sid}`)).toEqual([]);
  }, 120_000);

  /** Tokens for OP sessions and users that never logged in here, half by sid, half by sub. */
  async function strangerTokens(count: number): Promise<Array<{ token: string; label: string }>> {
    const tokens: Array<{ token: string; label: string }> = [];
    for (let i = 0; i < count; i++) {
      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sub: `stranger-${randomUUID()}`,
        ...(i % 2 === 0 ? { sid: `stranger-${randomUUID()}` } : {}),
        claims: {
          exp: nowSeconds() + LIFETIME_SECONDS,
          ...(i % 2 === 0 ? {} : { sid: undefined }),
        },
      });
      tokens.push({ token, label: `stranger ${i}` });
    }
    return tokens;
  }

  /** Runs the operations, CONCURRENCY at a time, each as one HTTP request. */
  async function run(operations: Operation[]): Promise<void> {
    const queue = [...operations];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          if (next.kind === 'login') await recordLogin(next.session);
          else await deliver(next.token, next.label);
        }
      }),
    );
  }

  async function recordLogin(session: Session): Promise<void> {
    const response = await fetch(`${testApp.url}/test/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ idToken: session.idToken }),
    });
    session.loginStatus = response.status;
    const body = (await response.json()) as { code?: string };
    session.loginCode = body.code;
    session.cookie = response.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
  }

  async function deliver(token: string, label: string): Promise<void> {
    const response = await fetch(`${testApp.url}/logout/connect/back-channel/main`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `logout_token=${token}`,
    });
    const text = await response.text();
    // Valid tokens, replays and tokens for nobody alike: 200.
    expect(response.status, `${label}: ${text}`).toBe(200);
  }

  async function isActive(session: Session): Promise<boolean> {
    const response = await fetch(`${testApp.url}/private`, {
      headers: { cookie: session.cookie ?? '', accept: 'application/json' },
    });
    await response.body?.cancel();
    expect([200, 401]).toContain(response.status);
    return response.status === 200;
  }
});

/** A small seeded PRNG (mulberry32), for a reproducible interleaving. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function shuffle<T>(random: () => number, items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function pick<T>(random: () => number, items: readonly T[], count: number): T[] {
  return shuffle(random, [...items]).slice(0, count);
}
