import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSid } from '../../lib/repositories/session-id-hash';
import type { OidcRevocationEvent } from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { isActive, logIn } from '../fixtures/login';
import {
  expectAccepted,
  expectedRejection,
  expectRejected,
} from '../fixtures/back-channel-answers';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import {
  logoutTokenVariants,
  nowSeconds,
  signIdToken,
  signLogoutToken,
  type LogoutTokenVariant,
} from '../fixtures/tokens';

const MODERN = { registrationId: 'modern', clientId: 'app-modern' };
const LEGACY = { registrationId: 'legacy', clientId: 'app-legacy' };
const DISABLED = { registrationId: 'no-back-channel', clientId: 'app-disabled' };
const SID_REQUIRED = { registrationId: 'sid-required', clientId: 'app-sid-required' };
const CLIENT_SECRET = 'a-client-secret-that-is-long-enough-for-hs256';

let keys: TestKeySet;
let op: FakeOp;
let testApp: TestApp;
const events: OidcRevocationEvent[] = [];

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  testApp = await startTestApp({
    oidc: {
      clients: [
        { ...MODERN, issuer: op.issuer },
        { ...LEGACY, issuer: op.issuer, legacyLogoutTokens: true },
        { ...DISABLED, issuer: op.issuer, backChannel: false },
        { ...SID_REQUIRED, issuer: op.issuer, backChannel: { sessionRequired: true } },
      ],
      onRevocation: (event) => {
        events.push(event);
      },
    },
  });
});

afterAll(async () => {
  await testApp?.close();
  await op?.close();
});

/** A logged-in browser of that client, with its own OP session. */
async function login(
  clientId: string,
  sub: string,
  sid: string,
  claims: Record<string, unknown> = {},
) {
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: clientId, sub, sid, ...claims });
  return (await logIn(testApp.url, idToken)).agent;
}

function postLogoutToken(
  registrationId: string,
  body: string,
  type = 'application/x-www-form-urlencoded',
) {
  return request(testApp.url)
    .post(`/logout/connect/back-channel/${registrationId}`)
    .set('Content-Type', type)
    .send(body);
}

const form = (token: string) => `logout_token=${encodeURIComponent(token)}`;

/** Three browsers: the target session, the same user's other session, and another user's. */
async function scene(client: { clientId: string }) {
  const sub = `user-${randomUUID()}`;
  const sid = `sid-${randomUUID()}`;
  return {
    sub,
    sid,
    target: await login(client.clientId, sub, sid),
    sameUser: await login(client.clientId, sub, `sid-${randomUUID()}`),
    otherUser: await login(client.clientId, `user-${randomUUID()}`, `sid-${randomUUID()}`),
  };
}

describe.each([
  ['default mode', MODERN, (v: LogoutTokenVariant) => v.valid],
  ['legacy mode', LEGACY, (v: LogoutTokenVariant) => v.legacyValid],
] as const)('back-channel logout tokens, %s', (mode, client, accepted) => {
  it.each(logoutTokenVariants.map((v) => [v.name, v] as const))('%s', async (_name, variant) => {
    const s = await scene(client);
    const token = await variant.build({
      ...op.context({
        clientId: client.clientId,
        sid: s.sid,
        sub: s.sub,
        clientSecret: CLIENT_SECRET,
      }),
    });
    const response = await postLogoutToken(client.registrationId, form(token));
    if (!accepted(variant)) {
      expectRejected(response, expectedRejection(variant.name, mode === 'legacy mode'), { token });
      expect(await isActive(s.target)).toBe(true);
      expect(await isActive(s.sameUser)).toBe(true);
      expect(await isActive(s.otherUser)).toBe(true);
      return;
    }
    expectAccepted(response);
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      sid?: string;
    };
    expect(await isActive(s.target)).toBe(false);
    // A sid ends that OP session only; a sub alone ends every session of the user.
    expect(await isActive(s.sameUser)).toBe(payload.sid !== undefined);
    expect(await isActive(s.otherUser)).toBe(true);
  });
});

describe('back-channel logout endpoint, HTTP rules', () => {
  /** A valid token; `sid` undefined makes a sub-only token (the factory would invent one). */
  async function validToken(client = MODERN, sid?: string, sub?: string) {
    return signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: client.clientId,
      sub,
      ...(sid === undefined ? { claims: { sid: undefined } } : { sid }),
    });
  }

  it('refuses every method but POST, with Allow: POST, revoking nothing', async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    for (const method of ['get', 'put', 'delete', 'patch'] as const) {
      const agent = request(testApp.url);
      const response = await agent[method](
        `/logout/connect/back-channel/modern?logout_token=${token}`,
      )
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send(form(token));
      expectRejected(response, 'use POST');
      expect(response.headers.allow).toBe('POST');
    }
    expect(await isActive(s.target)).toBe(true);
  });

  it('refuses other content types, revoking nothing', async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    const formOnly = 'the body must be application/x-www-form-urlencoded';
    expectRejected(
      await postLogoutToken('modern', JSON.stringify({ logout_token: token }), 'application/json'),
      formOnly,
    );
    expectRejected(await postLogoutToken('modern', form(token), 'text/plain'), formOnly);
    expectRejected(
      await postLogoutToken('modern', form(token), 'multipart/form-data; boundary=x'),
      formOnly,
    );
    expect(await isActive(s.target)).toBe(true);
  });

  it('refuses a missing, empty, repeated or structured logout_token, revoking nothing', async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    // The body is read raw, before any parser: `logout_token[]` is another field's name.
    for (const [body, description] of [
      ['', 'logout_token is missing'],
      ['other=1', 'logout_token is missing'],
      ['logout_token=', 'logout_token is not a non-empty string'],
      [`${form(token)}&${form(token)}`, 'logout_token is repeated'],
      [`logout_token[]=${encodeURIComponent(token)}`, 'logout_token is missing'],
      [`logout_token[a]=${encodeURIComponent(token)}`, 'logout_token is missing'],
    ] as const) {
      expectRejected(await postLogoutToken('modern', body), description);
    }
    expect(await isActive(s.target)).toBe(true);
  });

  it('ignores unknown form parameters and needs no cookie', async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    expectAccepted(await postLogoutToken('modern', `state=x&${form(token)}&foo=bar`));
    expect(await isActive(s.target)).toBe(false);
  });

  it('answers 413 to a body over 64 KiB, revoking nothing', async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    const response = await postLogoutToken('modern', `${form(token)}&pad=${'x'.repeat(70_000)}`);
    expectRejected(response, 'the body is larger than 65536 bytes', { status: 413 });
    expect(await isActive(s.target)).toBe(true);
  });

  it('refuses an unknown registration and one with back-channel logout disabled', async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    expectRejected(await postLogoutToken('nope', form(token)), 'unknown client registration');
    expectRejected(await postLogoutToken('modern.x', form(token)), 'unknown client registration');
    const d = await scene(DISABLED);
    const disabledToken = await validToken(DISABLED, d.sid, d.sub);
    const response = await postLogoutToken('no-back-channel', form(disabledToken));
    expectRejected(response, 'back-channel logout is disabled for this registration');
    expect(await isActive(s.target)).toBe(true);
    expect(await isActive(d.target)).toBe(true);
  });

  it('with sessionRequired, refuses a sub-only token (sid_missing) and accepts one with a sid', async () => {
    const s = await scene(SID_REQUIRED);
    const subOnly = await validToken(SID_REQUIRED, undefined, s.sub);
    const refused = await postLogoutToken('sid-required', form(subOnly));
    expectRejected(refused, expect.stringMatching(/^Logout token rejected \(sid_missing\): /));
    for (const agent of [s.target, s.sameUser, s.otherUser])
      expect(await isActive(agent)).toBe(true);
    expectAccepted(
      await postLogoutToken('sid-required', form(await validToken(SID_REQUIRED, s.sid, s.sub))),
    );
    expect(await isActive(s.target)).toBe(false);
    expect(await isActive(s.sameUser)).toBe(true);
  });

  it("refuses a token of one registration posted to another's endpoint", async () => {
    const s = await scene(MODERN);
    const token = await validToken(MODERN, s.sid, s.sub);
    expectRejected(
      await postLogoutToken('legacy', form(token)),
      'Logout token rejected (aud_mismatch): aud is not the client id',
    );
    expect(await isActive(s.target)).toBe(true);
  });

  it('answers 200 to a valid token whose sessions are already gone', async () => {
    expectAccepted(
      await postLogoutToken('modern', form(await validToken(MODERN, 'gone-sid', 'gone'))),
    );
  });

  it('acknowledges a replayed token with 200 and does not run it again', async () => {
    const sub = `user-${randomUUID()}`;
    const first = await login(MODERN.clientId, sub, `sid-${randomUUID()}`);
    const token = await validToken(MODERN, undefined, sub);
    expectAccepted(await postLogoutToken('modern', form(token)));
    expect(await isActive(first)).toBe(false);
    // The user logs in again after the logout; a replay of the sub-only token must not end it.
    const second = await login(MODERN.clientId, sub, `sid-${randomUUID()}`, {
      iat: nowSeconds() + 1,
    });
    expectAccepted(await postLogoutToken('modern', form(token)));
    expect(await isActive(second)).toBe(true);
  });

  it('a logout that arrives before the login is recorded still wins (sid)', async () => {
    const sid = `sid-${randomUUID()}`;
    expectAccepted(
      await postLogoutToken('modern', form(await validToken(MODERN, sid, 'late-user'))),
    );
    const agent = request.agent(testApp.url);
    const idToken = await signIdToken(keys, {
      iss: op.issuer,
      aud: MODERN.clientId,
      sub: 'late-user',
      sid,
    });
    const response = await agent.post('/test/login').send({ idToken }).expect(400);
    expect(response.body).toEqual({ code: 'ERR_SESSION_ENDED' });
    expect(await isActive(agent)).toBe(false);
  });

  it("a sid with another user's sub ends nothing of this user, now or for a late login", async () => {
    const sid = `sid-${randomUUID()}`;
    const alice = await login(MODERN.clientId, 'alice-x', sid);
    expectAccepted(
      await postLogoutToken('modern', form(await validToken(MODERN, sid, 'mallory-x'))),
    );
    expect(await isActive(alice)).toBe(true);
    // The same OP session logged in again by alice later: not refused either (consistent).
    const again = await login(MODERN.clientId, 'alice-x', sid);
    expect(await isActive(again)).toBe(true);
    // But a late login of that sid for the user the logout named is refused.
    const late = request.agent(testApp.url);
    const idToken = await signIdToken(keys, {
      iss: op.issuer,
      aud: MODERN.clientId,
      sub: 'mallory-x',
      sid,
    });
    const refused = await late.post('/test/login').send({ idToken });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ code: 'ERR_SESSION_ENDED' });
    expect(await isActive(late)).toBe(false);
    // The refusal ended nothing of alice's.
    expect(await isActive(alice)).toBe(true);
    expect(await isActive(again)).toBe(true);
  });

  it('a sub-only logout ends a login issued before it, not one issued after it', async () => {
    const sub = `user-${randomUUID()}`;
    const now = nowSeconds();
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: MODERN.clientId,
      sub,
      claims: { sid: undefined },
      now: now - 30,
    });
    expectAccepted(await postLogoutToken('modern', form(token)));
    const before = request.agent(testApp.url);
    const oldIdToken = await signIdToken(keys, {
      iss: op.issuer,
      aud: MODERN.clientId,
      sub,
      iat: now - 60,
    });
    expect((await before.post('/test/login').send({ idToken: oldIdToken })).body).toEqual({
      code: 'ERR_SESSION_ENDED',
    });
    expect(await isActive(before)).toBe(false);
    const after = await login(MODERN.clientId, sub, `sid-${randomUUID()}`, { iat: now });
    expect(await isActive(after)).toBe(true);
  });

  it("tells onRevocation listeners, with Keycloak's revoke_offline_access flag", async () => {
    const s = await scene(MODERN);
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: MODERN.clientId,
      sid: s.sid,
      sub: s.sub,
      claims: {
        events: {
          'http://schemas.openid.net/event/backchannel-logout': {},
          revoke_offline_access: true,
        },
      },
    });
    events.length = 0;
    expectAccepted(await postLogoutToken('modern', form(token)));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      channel: 'back-channel',
      registrationId: 'modern',
      issuer: op.issuer,
      clientId: MODERN.clientId,
      sid: s.sid,
      sub: s.sub,
      revokeOfflineAccess: true,
    });
    expect(events[0]?.sessions.map((x) => x.sid)).toEqual([hashSid(s.sid)]);
  });
});
