import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OidcDiscoveryService } from '../../lib/services/oidc-discovery.service';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { tryLogIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

/**
 * Discovery over real HTTP: the URLs it finds obey the transport rule (https in production, loopback
 * excepted; never user:password@), the document is read up to a limit and within a deadline, and
 * the metadata is refreshed from time to time, keeping the last good one when a refresh fails.
 */

const CLIENT_ID = 'app-discovery';

let keys: TestKeySet;
const apps: TestApp[] = [];
const ops: FakeOp[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  keys = await createTestKeySet();
});

afterEach(async () => {
  vi.useRealTimers();
  for (const app of apps.splice(0)) await app.close();
  for (const op of ops.splice(0)) await op.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

afterAll(() => {
  vi.useRealTimers();
});

async function op(options: Parameters<typeof startFakeOp>[0] = {}): Promise<FakeOp> {
  const started = await startFakeOp({ keys, ...options });
  ops.push(started);
  return started;
}

/** The app, its options validated with `NODE_ENV` set to `nodeEnv`. */
async function app(issuer: string, nodeEnv = 'test', httpTimeoutMs?: number): Promise<TestApp> {
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV = nodeEnv;
  try {
    const started = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer, clientId: CLIENT_ID }],
        ...(httpTimeoutMs === undefined ? {} : { httpTimeoutMs }),
      },
    });
    apps.push(started);
    return started;
  } finally {
    process.env.NODE_ENV = before;
  }
}

/** A login with an ID token from the test keys: 200, or 400 with the library's error code. */
async function login(testApp: TestApp, issuer: string) {
  const idToken = await signIdToken(keys, {
    iss: issuer,
    aud: CLIENT_ID,
    sub: `user-${randomUUID()}`,
    sid: `sid-${randomUUID()}`,
  });
  return tryLogIn(testApp.url, idToken);
}

async function listen(server: Server, host: string): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** This machine's first non-loopback IPv4 address (a host the https rule applies to). */
const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((entry) => entry?.family === 'IPv4' && !entry.internal)?.address;

/** A JWKS server on every interface that counts what it serves. */
async function countingJwks(): Promise<{ port: number; served: () => number }> {
  let served = 0;
  const server = createServer((_req, res) => {
    served += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(keys.jwks()));
  });
  const port = await listen(server, '0.0.0.0');
  return { port, served: () => served };
}

describe('discovered URLs obey the transport rule', () => {
  it.skipIf(externalAddress === undefined)(
    'in production, a discovered http jwks_uri on a non-loopback host is refused and never fetched',
    async () => {
      const jwks = await countingJwks();
      const provider = await op({
        extraMetadata: { jwks_uri: `http://${externalAddress}:${jwks.port}/jwks` },
      });
      // Outside production the same OP works: the JWKS server is reachable and used.
      const dev = await app(provider.issuer, 'development');
      expect((await login(dev, provider.issuer)).response.status).toBe(200);
      expect(jwks.served()).toBeGreaterThan(0);
      const servedBefore = jwks.served();

      const prod = await app(provider.issuer, 'production');
      const { agent, response } = await login(prod, provider.issuer);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
      expect(jwks.served()).toBe(servedBefore);
      expect((await agent.get('/private').set('Accept', 'application/json')).status).toBe(401);
    },
  );

  it.each([
    ['end_session_endpoint', (o: FakeOp) => `http://op.example.test:${o.port}/logout`],
    ['token_endpoint', (o: FakeOp) => `http://op.example.test:${o.port}/token`],
    ['authorization_endpoint', (o: FakeOp) => `http://op.example.test:${o.port}/auth`],
  ])('in production, a discovered http %s is refused: discovery fails', async (member, url) => {
    const provider = await op();
    provider.controls.extraMetadata = { [member]: url(provider) };
    const prod = await app(provider.issuer, 'production');
    const { response } = await login(prod, provider.issuer);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
    expect(provider.count('jwks')).toBe(0);
  });

  it('in production, loopback http URLs are accepted (local OPs, tests)', async () => {
    const provider = await op();
    const prod = await app(provider.issuer, 'production');
    expect((await login(prod, provider.issuer)).response.status).toBe(200);
  });

  it('a discovered jwks_uri with user:password@ is refused in every environment, and never fetched', async () => {
    const provider = await op();
    provider.controls.extraMetadata = {
      jwks_uri: `http://user:pw@127.0.0.1:${provider.port}/jwks`,
    };
    const dev = await app(provider.issuer, 'development');
    const { response } = await login(dev, provider.issuer);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
    expect(provider.count('jwks')).toBe(0);
  });
});

describe('discovery reads are bounded', () => {
  /** An OP whose discovery answer is written by `answer`; the JWKS comes from the fake OP. */
  async function rawDiscovery(
    answer: (res: import('node:http').ServerResponse, issuer: string) => void,
  ): Promise<{ issuer: string; written: () => number; closed: Promise<void> }> {
    let written = 0;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const server = createServer((req, res) => {
      if (!req.url?.endsWith('/.well-known/openid-configuration')) {
        res.writeHead(404).end();
        return;
      }
      const write = res.write.bind(res);
      res.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        written += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
        return write(chunk, ...rest);
      }) as typeof res.write;
      res.on('close', markClosed);
      answer(res, issuer);
    });
    const port = await listen(server, '127.0.0.1');
    const issuer = `http://127.0.0.1:${port}`;
    return { issuer, written: () => written, closed };
  }

  const metadataFor = (issuer: string, jwksUri: string) => ({
    issuer,
    jwks_uri: jwksUri,
    id_token_signing_alg_values_supported: ['RS256'],
  });

  it('stops reading an endless chunked document at the limit, without waiting for the deadline', async () => {
    const jwksOp = await op();
    const raw = await rawDiscovery((res, issuer) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const head = JSON.stringify(metadataFor(issuer, jwksOp.jwksUri)).slice(0, -1);
      res.write(`${head},"padding":"`);
      const chunk = 'x'.repeat(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          /* fill the socket */
        }
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const testApp = await app(raw.issuer, 'test', 20_000);
    const started = Date.now();
    const { response } = await login(testApp, raw.issuer);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
    await raw.closed;
    expect(Date.now() - started).toBeLessThan(5_000);
    // The limit (256 KiB) plus what the sockets buffer, not the 20 s of a fast writer.
    expect(raw.written()).toBeLessThan(16 * 1024 * 1024);
  });

  it('refuses a complete document over the limit (a valid one, padded to 1 MiB)', async () => {
    const jwksOp = await op();
    const raw = await rawDiscovery((res, issuer) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ...metadataFor(issuer, jwksOp.jwksUri),
          padding: 'x'.repeat(1024 * 1024),
        }),
      );
    });
    const testApp = await app(raw.issuer);
    const { response } = await login(testApp, raw.issuer);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
    expect(jwksOp.count('jwks')).toBe(0);
  });

  it('gives up on a document that trickles past the deadline', async () => {
    const raw = await rawDiscovery((res, issuer) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text = JSON.stringify({ issuer });
      let at = 0;
      const timer = setInterval(() => {
        if (res.destroyed || at >= text.length) return;
        res.write(text[at] ?? ' ');
        at += 1;
      }, 200);
      res.on('close', () => clearInterval(timer));
    });
    const testApp = await app(raw.issuer, 'test', 1_000);
    const started = Date.now();
    const { response } = await login(testApp, raw.issuer);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('discovery is refreshed from time to time', () => {
  const HOUR_MS = 3_600_000;

  /**
   * Waits until the OP has served `count` discovery documents and the app has taken the last one in
   * (a background refresh runs on its own; the OP counts a fetch when it receives it, the app stores
   * the result, and its time, a moment later: moving the clock in between would date the result
   * after the move). Bounded: 10 s.
   */
  async function fetchedAndSettled(provider: FakeOp, testApp: TestApp, count: number) {
    const discovery = testApp.app.get(OidcDiscoveryService);
    const settled = () =>
      provider.count('discovery') === count &&
      [...discovery['states'].values()].every((state) => state.pending === undefined);
    for (let i = 0; i < 500 && !settled(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(provider.count('discovery')).toBe(count);
    expect(settled()).toBe(true);
  }

  it('fetches it again after the refresh period; a failed refresh keeps the last good metadata and is retried later', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const provider = await op();
    // Slow answers: the refreshes below are still running when the OP has counted them.
    provider.controls.discoveryDelayMs = 100;
    const testApp = await app(provider.issuer);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    await fetchedAndSettled(provider, testApp, 1);

    // Within the period: no new fetch.
    vi.setSystemTime(Date.now() + HOUR_MS / 2);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    expect(provider.count('discovery')).toBe(1);

    // Past it: fetched again, in the background.
    vi.setSystemTime(Date.now() + HOUR_MS);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    await fetchedAndSettled(provider, testApp, 2);

    // The OP's discovery fails at the next refresh: logins go on with the last good metadata.
    provider.controls.failDiscovery = 503;
    vi.setSystemTime(Date.now() + HOUR_MS + 1_000);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    await fetchedAndSettled(provider, testApp, 3);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    expect(provider.count('discovery')).toBe(3);

    // Retried a few seconds later, and taken when the OP answers again.
    provider.controls.failDiscovery = false;
    vi.setSystemTime(Date.now() + 6_000);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    await fetchedAndSettled(provider, testApp, 4);
    vi.setSystemTime(Date.now() + 6_000);
    expect((await login(testApp, provider.issuer)).response.status).toBe(200);
    expect(provider.count('discovery')).toBe(4);
  });

  it('a registration that only receives back-channel logouts is refreshed too', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const provider = await op();
    const testApp = await app(provider.issuer);
    const sub = `user-${randomUUID()}`;
    const post = async () => {
      const token = await signLogoutToken(keys, {
        issuer: provider.issuer,
        clientId: CLIENT_ID,
        sub,
      });
      return request(testApp.url)
        .post('/logout/connect/back-channel/main')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send(`logout_token=${encodeURIComponent(token)}`);
    };
    expect((await post()).status).toBe(200);
    await fetchedAndSettled(provider, testApp, 1);
    vi.setSystemTime(Date.now() + HOUR_MS + 1_000);
    expect((await post()).status).toBe(200);
    await fetchedAndSettled(provider, testApp, 2);
  });
});
