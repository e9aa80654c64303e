import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashSid } from '../../lib/repositories/session-id-hash';
import type { OidcRevocationEvent } from '../../lib/interfaces/oidc-revocation-event.interface';
import {
  loginAtOp,
  logoutAtOp,
  startRealOp,
  type BackChannelDelivery,
  type RealOp,
} from '../fixtures/real-op';
import { guardedStatus, logIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';

/**
 * Back-Channel Logout against a real OP: node oidc-provider signs the ID tokens the app records and
 * posts its own logout tokens to the app's endpoint when a user signs out at its end-session page.
 */

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The app's registrations at the real OP, and how each client is registered there. */
const REGISTRATIONS = [
  { registrationId: 'op-sid', clientId: 'client-sid', sessionRequired: true },
  { registrationId: 'op-sub', clientId: 'client-sub', sessionRequired: false },
  { registrationId: 'op-sso', clientId: 'client-sso', sessionRequired: true },
] as const;
type RegistrationId = (typeof REGISTRATIONS)[number]['registrationId'];

describe('Back-channel logout with a real OP (oidc-provider)', () => {
  let op: RealOp;
  let testApp: TestApp;
  const events: OidcRevocationEvent[] = [];
  let deliveriesBefore = 0;

  beforeAll(async () => {
    // The OP's clients need the app's URL (backchannel_logout_uri), the app's registrations the OP's
    // issuer: startRealOp listens first and starts the app once the issuer is known.
    op = await startRealOp({
      clients: async (issuer) => {
        testApp = await startTestApp({
          oidc: {
            clients: REGISTRATIONS.map(({ registrationId, clientId, sessionRequired }) => ({
              registrationId,
              issuer,
              clientId,
              backChannel: { sessionRequired },
            })),
          },
        });
        return REGISTRATIONS.map(({ registrationId, clientId, sessionRequired }) => ({
          clientId,
          clientSecret: `${clientId}-secret`,
          redirectUri: `${testApp.url}/login/callback/${registrationId}`,
          postLogoutRedirectUri: `${testApp.url}/logout/callback`,
          backchannelLogoutUri: backChannelUri(registrationId),
          backchannelLogoutSessionRequired: sessionRequired,
        }));
      },
    });
    testApp.logoutService.onRevocation((event) => {
      events.push(event);
    });
  });

  afterAll(async () => {
    await testApp?.close();
    await op?.close();
  });

  beforeEach(() => {
    events.length = 0;
    deliveriesBefore = op.deliveries.length;
  });

  function backChannelUri(registrationId: RegistrationId): string {
    return `${testApp.url}/logout/connect/back-channel/${registrationId}`;
  }

  function clientIdOf(registrationId: RegistrationId): string {
    return REGISTRATIONS.find((r) => r.registrationId === registrationId)!.clientId;
  }

  /** The logout tokens the OP posted during this test. */
  function newDeliveries(): BackChannelDelivery[] {
    return op.deliveries.slice(deliveriesBefore);
  }

  /** A real login at the OP, then the app's login callback with the real ID token. */
  async function browserLogin(registrationId: RegistrationId, login: string) {
    const opLogin = await loginAtOp(op, { clientId: clientIdOf(registrationId), login });
    const app = await recordLogin(opLogin.idToken);
    return { ...opLogin, app };
  }

  async function recordLogin(idToken: string) {
    const { agent } = await logIn(testApp.url, idToken);
    await expectActive(agent);
    return agent;
  }

  async function expectActive(agent: request.Agent): Promise<void> {
    expect(await guardedStatus(agent)).toBe(200);
  }

  /** The OP's back-channel calls are awaited before its redirect, but poll (bounded) anyway. */
  async function expectEndedSoon(agent: request.Agent, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = await guardedStatus(agent);
    while (last !== 401 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      last = await guardedStatus(agent);
    }
    expect(last).toBe(401);
  }

  /** What oidc-provider 9 really sends, checked on every delivery. */
  function expectLogoutToken(
    delivery: BackChannelDelivery,
    registrationId: RegistrationId,
    expected: { sub: string; sid?: string },
  ): void {
    expect(delivery.url).toBe(backChannelUri(registrationId));
    expect(delivery.error).toBeUndefined();
    // The app accepted the OP's token: exactly 200, empty body.
    expect({ status: delivery.status, body: delivery.body }).toEqual({ status: 200, body: '' });
    expect(delivery.header).toEqual({ alg: 'RS256', typ: 'logout+jwt', kid: 'real-op-rs256' });
    const claims = delivery.claims;
    expect(Object.keys(claims).sort()).toEqual(
      expected.sid === undefined
        ? ['aud', 'events', 'exp', 'iat', 'iss', 'jti', 'sub']
        : ['aud', 'events', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub'],
    );
    expect(claims).toMatchObject({
      iss: op.issuer,
      aud: clientIdOf(registrationId),
      sub: expected.sub,
      events: { [EVENT]: {} },
    });
    if (expected.sid !== undefined) expect(claims.sid).toBe(expected.sid);
    expect(claims.exp).toBe((claims.iat as number) + 120);
    expect(claims.jti).toEqual(expect.any(String));
  }

  it('session required (sid): ends exactly that OP session, other users and sessions stay', async () => {
    const alice = await browserLogin('op-sid', 'alice');
    expect(alice.prompts).toEqual(['login', 'consent']);
    const aliceSid = decodeJwt(alice.idToken).sid as string;
    expect(aliceSid).toEqual(expect.any(String));
    const aliceOtherDevice = await browserLogin('op-sid', 'alice');
    expect(decodeJwt(aliceOtherDevice.idToken).sid).not.toBe(aliceSid);
    const bob = await browserLogin('op-sid', 'bob');

    const logout = await logoutAtOp(op, alice.jar, {
      idTokenHint: alice.idToken,
      postLogoutRedirectUri: `${testApp.url}/logout/callback`,
      state: 'after-logout',
    });

    expect(logout.location).toBe(`${testApp.url}/logout/callback?state=after-logout`);
    await expectEndedSoon(alice.app);
    await expectActive(aliceOtherDevice.app);
    await expectActive(bob.app);
    const deliveries = newDeliveries();
    expect(deliveries).toHaveLength(1);
    expectLogoutToken(deliveries[0]!, 'op-sid', { sub: 'alice', sid: aliceSid });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      channel: 'back-channel',
      registrationId: 'op-sid',
      issuer: op.issuer,
      clientId: 'client-sid',
      sid: aliceSid,
      sub: 'alice',
      revokeOfflineAccess: false,
    });
    expect(events[0]!.sessions.map((s) => [s.sub, s.sid])).toEqual([['alice', hashSid(aliceSid)]]);
  });

  it('session not required (sub only): the OP sends no sid; every session of that user at that client ends', async () => {
    const alice = await browserLogin('op-sub', 'alice');
    expect(decodeJwt(alice.idToken).sid).toBeUndefined();
    const aliceOtherDevice = await browserLogin('op-sub', 'alice');
    const aliceAtOtherClient = await browserLogin('op-sid', 'alice');
    const bob = await browserLogin('op-sub', 'bob');

    await logoutAtOp(op, alice.jar, { idTokenHint: alice.idToken });

    await expectEndedSoon(alice.app);
    await expectEndedSoon(aliceOtherDevice.app);
    await expectActive(aliceAtOtherClient.app);
    await expectActive(bob.app);
    const deliveries = newDeliveries();
    expect(deliveries).toHaveLength(1);
    expectLogoutToken(deliveries[0]!, 'op-sub', { sub: 'alice' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      channel: 'back-channel',
      registrationId: 'op-sub',
      sub: 'alice',
    });
    expect(events[0]!.sid).toBeUndefined();
    expect(events[0]!.sessions.map((s) => s.sub)).toEqual(['alice', 'alice']);
  });

  it('single sign-on across two clients: one logout at the OP ends both', async () => {
    const first = await browserLogin('op-sid', 'carol');
    expect(first.prompts).toEqual(['login', 'consent']);
    // The second client reuses the OP session: no login form, only its own consent.
    const second = await loginAtOp(op, { clientId: 'client-sso', jar: first.jar });
    expect(second.prompts).toEqual(['consent']);
    expect(decodeJwt(second.idToken).sub).toBe('carol');
    const secondApp = await recordLogin(second.idToken);
    const dave = await browserLogin('op-sso', 'dave');
    const firstSid = decodeJwt(first.idToken).sid as string;
    const secondSid = decodeJwt(second.idToken).sid as string;

    await logoutAtOp(op, first.jar, { idTokenHint: first.idToken });

    await expectEndedSoon(first.app);
    await expectEndedSoon(secondApp);
    await expectActive(dave.app);
    const deliveries = newDeliveries().sort((a, b) => a.url.localeCompare(b.url));
    expect(deliveries).toHaveLength(2);
    expectLogoutToken(deliveries[0]!, 'op-sid', { sub: 'carol', sid: firstSid });
    expectLogoutToken(deliveries[1]!, 'op-sso', { sub: 'carol', sid: secondSid });
    expect(
      events
        .map((e) => [e.channel, e.registrationId, e.sid, e.sessions.length])
        .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
    ).toEqual([
      ['back-channel', 'op-sid', firstSid, 1],
      ['back-channel', 'op-sso', secondSid, 1],
    ]);
    // The OP session is gone too: the next login asks for the password again.
    const again = await loginAtOp(op, { clientId: 'client-sid', jar: first.jar, login: 'carol' });
    expect(again.prompts[0]).toBe('login');
  });

  it('"stay signed in" at the OP logs out the hinted client only', async () => {
    const first = await browserLogin('op-sid', 'erin');
    const second = await loginAtOp(op, { clientId: 'client-sso', jar: first.jar });
    const secondApp = await recordLogin(second.idToken);

    await logoutAtOp(op, first.jar, { idTokenHint: first.idToken, everywhere: false });

    await expectEndedSoon(first.app);
    await expectActive(secondApp);
    expect(newDeliveries().map((d) => [d.url, d.status])).toEqual([
      [backChannelUri('op-sid'), 200],
    ]);
    expect(events.map((e) => e.registrationId)).toEqual(['op-sid']);
  });
});
