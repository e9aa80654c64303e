import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OidcRevocationEvent } from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { guardedStatus, logIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

/**
 * `POST /logout` accepts an `Origin` only when it is exactly the app's own origin as browsers
 * serialize it (`scheme://host[:port]`, RFC 6454 section 6.1): no trailing slash, no path, no
 * userinfo, no `null`. Near misses are refused with 403 and log nobody out.
 */

const CLIENT = { registrationId: 'main', clientId: 'app-main' };

let keys: TestKeySet;
let op: FakeOp;
let testApp: TestApp;
/** `127.0.0.1:PORT` of the app. */
let host: string;
const events: OidcRevocationEvent[] = [];

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  testApp = await startTestApp({
    oidc: {
      clients: [{ ...CLIENT, issuer: op.issuer }],
      onRevocation: (event) => {
        events.push(event);
      },
    },
  });
  host = new URL(testApp.url).host;
});

afterAll(async () => {
  await testApp?.close();
  await op?.close();
});

beforeEach(() => {
  events.length = 0;
  op.resetRequests();
});

async function login(): Promise<request.Agent> {
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT.clientId, sub: 'alice' });
  const { agent } = await logIn(testApp.url, idToken);
  expect(await guardedStatus(agent)).toBe(200);
  return agent;
}

describe('POST /logout compares exact origins', () => {
  it.each([
    ['a trailing slash', (h: string) => `http://${h}/`],
    ['a path', (h: string) => `http://${h}/logout`],
    ['a query', (h: string) => `http://${h}?x=1`],
    ['a fragment', (h: string) => `http://${h}#x`],
    ['userinfo', (h: string) => `http://user@${h}`],
    ['userinfo with a password', (h: string) => `http://user:pw@${h}`],
    ['null', () => 'null'],
    ['another scheme', (h: string) => `https://${h}`],
    ['a scheme-relative value', (h: string) => `//${h}`],
    ['no scheme', (h: string) => h],
    ['surrounding spaces inside', (h: string) => `http:// ${h}`],
    ['two origins', (h: string) => `http://${h} http://${h}`],
    ['a backslash after the host', (h: string) => `http://${h}\\`],
  ])('an Origin with %s is refused (403) and nobody is logged out', async (_name, origin) => {
    const agent = await login();

    const refused = await agent.post('/logout').set('Origin', origin(host));

    expect(refused.status).toBe(403);
    expect(refused.headers['cache-control']).toBe('no-store');
    expect(refused.headers.location).toBeUndefined();
    expect(refused.text).toContain('Logout refused');
    expect(await guardedStatus(agent)).toBe(200);
    expect(events).toEqual([]);
    expect(op.count('endSession')).toBe(0);
  });

  it('the exact origin, and the same origin with its scheme in upper case, log out', async () => {
    for (const origin of [`http://${host}`, `HTTP://${host}`]) {
      const agent = await login();
      const accepted = await agent.post('/logout').set('Origin', origin);
      expect(accepted.status).toBe(302);
      expect(accepted.headers['cache-control']).toBe('no-store');
      expect(await guardedStatus(agent)).toBe(401);
    }
    expect(events.map((e) => [e.channel, e.registrationId])).toEqual([
      ['rp-initiated', 'main'],
      ['rp-initiated', 'main'],
    ]);
  });
});
