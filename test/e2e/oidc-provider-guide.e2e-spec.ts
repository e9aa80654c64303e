import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevOp } from '../../docs/examples/oidc-provider-dev-op';
import { loginAtOp, logoutAtOp, type RealOp } from '../fixtures/real-op';
import { startTestApp, type TestApp } from '../fixtures/test-app';

/**
 * The node oidc-provider guide's developer-machine configuration, as the guide embeds it
 * (docs/examples/oidc-provider-dev-op.ts; the docs check keeps the two equal): an app on 127.0.0.1,
 * a real login at the OP, a logout there, and the back-channel logout that must reach the app
 * although oidc-provider 9 guards its outgoing requests against loopback addresses.
 */

const CLIENT_SECRET = 'a development secret';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('The node oidc-provider guide on a developer machine', () => {
  let server: Server;
  let testApp: TestApp;
  let op: RealOp;
  const backChannel: Array<{ clientId: string; ok: boolean; error?: string }> = [];

  beforeAll(async () => {
    // The OP listens first (its issuer needs the port); requests wait until it is built.
    let resolveHandler!: (handler: Handler) => void;
    const handler = new Promise<Handler>((resolve) => (resolveHandler = resolve));
    server = createServer((req, res) => void handler.then((handle) => handle(req, res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    // The guide's registration (its postLogoutRedirectUri is not used here).
    testApp = await startTestApp({
      oidc: {
        clients: [
          {
            registrationId: 'op',
            issuer,
            clientId: 'portal',
            clientSecret: CLIENT_SECRET,
            frontChannel: false,
          },
        ],
      },
    });
    const provider = createDevOp({ issuer, appUrl: testApp.url, clientSecret: CLIENT_SECRET });
    provider.on('backchannel.success', (_ctx, client) => {
      backChannel.push({ clientId: client.clientId, ok: true });
    });
    provider.on('backchannel.error', (_ctx, error, client) => {
      backChannel.push({ clientId: client.clientId, ok: false, error: error.message });
    });
    const callback = provider.callback();
    resolveHandler((req, res) => void callback(req, res));
    op = {
      issuer,
      provider,
      clients: [
        {
          clientId: 'portal',
          clientSecret: CLIENT_SECRET,
          redirectUri: `${testApp.url}/login/callback`,
          backchannelLogoutUri: `${testApp.url}/logout/connect/back-channel/op`,
          backchannelLogoutSessionRequired: true,
        },
      ],
      deliveries: [],
      backChannelResults: [],
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  });

  afterAll(async () => {
    await testApp?.close();
    server?.closeAllConnections();
    await op?.close();
  });

  it('ends the app session when the user logs out at the OP', async () => {
    const login = await loginAtOp(op, { clientId: 'portal', login: 'alice' });
    const agent = request.agent(testApp.url);
    const recorded = await agent.post('/test/login').send({ idToken: login.idToken }).expect(200);
    expect(recorded.body).toMatchObject({ sub: 'alice', sid: expect.any(String) });
    expect((await agent.get('/private').set('Accept', 'application/json')).status).toBe(200);

    await logoutAtOp(op, login.jar, { idTokenHint: login.idToken });

    // oidc-provider awaits its back-channel requests before it answers the logout form.
    expect(backChannel).toEqual([{ clientId: 'portal', ok: true }]);
    expect((await agent.get('/private').set('Accept', 'application/json')).status).toBe(401);
  });
});
