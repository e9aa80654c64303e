import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { isActive, logIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { craftUnsignedJwt, signIdToken, signLogoutToken } from '../fixtures/tokens';
import { scanChildOutput } from '../fixtures/log-secrets/child-output';
import { excludedLines, takeFindings } from '../fixtures/log-secrets/leak-findings';
import { leakReport } from '../fixtures/log-secrets/leak-report';
import { findSecrets, registerSecret } from '../fixtures/log-secrets/secret-registry';

/**
 * The scanner of test/fixtures/log-secrets, which fails any e2e file whose log lines carry a token,
 * session id, sid or sub: each test here makes a line with a secret reach one of its paths and takes
 * the verdict itself (so that this file passes).
 */

const REGISTRATION = { registrationId: 'audit-registration-7f3e', clientId: 'app-audit' };

let keys: TestKeySet;
let op: FakeOp;
let testApp: TestApp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  testApp = await startTestApp({ oidc: { clients: [{ ...REGISTRATION, issuer: op.issuer }] } });
});

afterAll(async () => {
  await testApp?.close();
  await op?.close();
});

describe('the log-secret scanner', () => {
  it('finds compact JWS and JWE by their shape, and nothing in an innocent line', async () => {
    const jws = await signIdToken(keys, { sub: 'alice', sid: 's1' });
    const jwe = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y2lwaGVy.dGFn';
    expect(findSecrets(`refused: ${jws}`)).toEqual([{ kind: 'token', value: jws }]);
    expect(findSecrets(`token=${jwe}`)).toEqual([{ kind: 'token', value: expect.any(String) }]);
    expect(findSecrets(`x ${craftUnsignedJwt({ alg: 'none' }, { a: 1 })} y`)).toHaveLength(1);
    expect(
      findSecrets(
        '{"event":"oidc_logout_revocation","channel":"back_channel","registrationId":"main","sessions":2}',
      ),
    ).toEqual([]);
  });

  it('knows the sub and sid of each minted token, when long and not only letters', async () => {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    await signLogoutToken(keys, { sub, sid });
    expect(findSecrets(`ended ${sid} of ${sub}`)).toEqual(
      expect.arrayContaining([
        { kind: 'sub', value: sub },
        { kind: 'sid', value: sid },
      ]),
    );
    // Short or purely alphabetic values would match innocent text: not registered.
    await signIdToken(keys, { sub: 'alice', sid: 's1' });
    await signIdToken(keys, { sub: 'undefined', sid: 'sid-1' });
    expect(findSecrets('alice s1 undefined sid-1')).toEqual([]);
  });

  it('knows the session ids of the test app', async () => {
    const agent = request.agent(testApp.url);
    const { body } = await agent.get('/test/session').expect(200);
    const { id } = body as { id: string };
    expect(findSecrets(`session ${id}`)).toEqual([{ kind: 'session id', value: id }]);
  });

  it("catches a library log line with a secret, under the line's logger context", async () => {
    // The audit line of a revocation names its registration: as if that id were a secret.
    registerSecret('sub', REGISTRATION.registrationId);
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const idToken = await signIdToken(keys, {
      iss: op.issuer,
      aud: REGISTRATION.clientId,
      sub,
      sid,
    });
    const { agent } = await logIn(testApp.url, idToken);
    const logoutToken = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: REGISTRATION.clientId,
      sub,
      sid,
    });
    await request(testApp.url)
      .post(`/logout/connect/back-channel/${REGISTRATION.registrationId}`)
      .type('form')
      .send({ logout_token: logoutToken })
      .expect(200);
    expect(await isActive(agent)).toBe(false);
    // Each secret is reported once, by the first line it appeared in: take those of the audit line.
    const audit = takeFindings((finding) => finding.context === 'OidcLogoutAudit');
    takeFindings();
    expect(audit).toEqual([
      {
        kind: 'sub',
        value: REGISTRATION.registrationId,
        source: 'Logger.log',
        context: 'OidcLogoutAudit',
        during: expect.stringContaining('catches a library log line'),
      },
    ]);
  });

  it("leaves out the tests' own output, and only that", async () => {
    const token = await signIdToken(keys);
    const before = excludedLines();
    new Logger('ThisSpec').warn(`the spec prints ${token}`);
    console.error(`the spec prints ${token}`);
    process.stderr.write(`the spec prints ${token}\n`);
    expect(takeFindings()).toEqual([]);
    expect(excludedLines() - before).toBeGreaterThanOrEqual(3);
  });

  it('reads back the lines a spy silenced', async () => {
    const token = await signIdToken(keys);
    // A spy that calls through leaves the line to the capture (here: the spec's own, left out).
    vi.spyOn(Logger.prototype, 'warn');
    new Logger('OidcLogout').warn({ refused: token });
    vi.restoreAllMocks();
    expect(takeFindings()).toEqual([]);
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    new Logger('OidcLogout').warn({ refused: token });
    vi.restoreAllMocks();
    expect(takeFindings()).toEqual([
      expect.objectContaining({
        kind: 'token',
        source: 'Logger.warn (silenced by a spy)',
        context: 'OidcLogout',
      }),
    ]);
  });

  it("scans a child process's output line by line", async () => {
    const token = await signIdToken(keys);
    const scanner = scanChildOutput('the stderr of app instance 1');
    const line = `[Nest] 42  - 01/01/2026, 10:00:00 AM   WARN [OidcBackChannelLogout] got ${token}\n`;
    scanner.write(line.slice(0, 80));
    scanner.write(line.slice(80));
    scanner.end();
    expect(takeFindings()).toEqual([
      expect.objectContaining({ kind: 'token', context: 'OidcBackChannelLogout' }),
    ]);
  });

  it('fails with the file, the context and the kind, never the secret in full', () => {
    const sid = `sid-${randomUUID()}`;
    const report = leakReport('test/e2e/some.e2e-spec.ts', [
      { kind: 'sid', value: sid, source: 'Logger.warn', context: 'OidcFrontChannelLogout' },
    ]);
    expect(report).toContain('test/e2e/some.e2e-spec.ts');
    expect(report).toContain('a sid "sid-');
    expect(report).toContain('"OidcFrontChannelLogout"');
    expect(report).not.toContain(sid);
  });
});
