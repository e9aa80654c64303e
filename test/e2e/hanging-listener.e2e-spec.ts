/**
 * An `onRevocation` listener that never settles (a call to a slow service without a timeout) holds
 * a logout's answer for LISTENER_WAIT_MS at most: the OP's back-channel request and the session's
 * end are not held hostage by it, and the next listener still runs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

describe('a revocation listener that never settles', () => {
  let keys: TestKeySet;
  let op: FakeOp;
  let app: TestApp;
  const told: string[] = [];

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
        onRevocation: () => new Promise<void>(() => undefined),
      },
    });
    app.logoutService.onRevocation((event) => {
      told.push(event.channel);
    });
  });

  afterAll(async () => {
    await app?.close();
    await op?.close();
  });

  it('does not hold the back-channel answer (the request times out without the bound); the session is ended, the next listener told', async () => {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const cookie = await loginAt(
      app.url,
      await signIdToken(keys, { iss: op.issuer, aud: 'app', sub, sid }),
    );
    const token = await signLogoutToken(keys, { issuer: op.issuer, clientId: 'app', sub, sid });
    const answer = await postLogoutToken(app.url, 'main', token);
    expect(answer.status).toBe(200);
    expect(told).toEqual(['back-channel']);
    expect(await privateStatus(app.url, cookie)).toBe(401);
  });
});
