import type { INestApplication } from '@nestjs/common';
import express from 'express';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OidcRevocationEvent } from '../../lib';
import { BACK_CHANNEL_MAX_BODY_BYTES } from '../../lib/endpoints/back-channel-logout.handler';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { guardedStatus, logIn } from '../fixtures/login';
import { header, rawRequest, type RawRequest, type RawResponse } from '../fixtures/raw-http';
import { startTestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

/**
 * The back-channel endpoint answers every refusal in the spec's shape
 * (`{"error":"invalid_request","error_description":...}`, `Cache-Control: no-store`), whatever global
 * body parsers the app has: Nest's own (`bodyParser: true`, the default) or the app's
 * `express.json()` / `express.urlencoded()` mounted on every route. The module reads the body before
 * them, bounded at 64 KiB counted as the bytes arrive (a chunked body without `Content-Length` too),
 * and stops reading there.
 */

const CLIENT = { registrationId: 'main', clientId: 'app-main' };
const BACK = `/logout/connect/back-channel/${CLIENT.registrationId}`;
const FORM = 'application/x-www-form-urlencoded';
const KIB = 1024;

let keys: TestKeySet;
let op: FakeOp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
});

afterAll(async () => {
  await op?.close();
});

interface RunningApp {
  app: INestApplication;
  url: string;
  events: OidcRevocationEvent[];
  /** Bytes the server read per connection, by the client's local port. */
  bytesRead: Map<number, () => number>;
}

type Setup = 'Nest body parsers (default)' | "the app's own global express parsers";

async function startApp(setup: Setup): Promise<RunningApp> {
  const events: OidcRevocationEvent[] = [];
  const own = setup === "the app's own global express parsers";
  const { app, url } = await startTestApp({
    oidc: {
      clients: [{ ...CLIENT, issuer: op.issuer }],
      onRevocation: (event) => {
        events.push(event);
      },
    },
    logger: ['error'],
    ...(own ? { bodyParser: false } : {}),
    beforeSessions: (parsersApp) => {
      if (own) {
        parsersApp.use(express.json({ limit: '10mb' }));
        parsersApp.use(express.urlencoded({ extended: true, limit: '10mb' }));
      }
    },
  });
  const bytesRead = new Map<number, () => number>();
  (app.getHttpServer() as Server).on('connection', (socket: Socket) => {
    bytesRead.set(socket.remotePort ?? 0, () => socket.bytesRead);
  });
  return { app, url, events, bytesRead };
}

describe.each<Setup>(['Nest body parsers (default)', "the app's own global express parsers"])(
  'Back-channel refusals in the spec shape with %s',
  (setup) => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startApp(setup);
    });

    afterAll(async () => {
      await running?.app.close();
    });

    beforeEach(() => {
      running.events.length = 0;
    });

    /** A logged-in session and a valid logout token for it. */
    async function session(): Promise<{ agent: request.Agent; token: string }> {
      const sid = crypto.randomUUID();
      const idToken = await signIdToken(keys, {
        iss: op.issuer,
        aud: CLIENT.clientId,
        sub: 'alice',
        sid,
      });
      const { agent } = await logIn(running.url, idToken);
      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT.clientId,
        sub: 'alice',
        sid,
      });
      return { agent, token };
    }

    async function expectActive(agent: request.Agent): Promise<void> {
      expect(await guardedStatus(agent)).toBe(200);
      expect(running.events).toEqual([]);
    }

    function post(headers: Array<[string, string]>, body: Buffer | string): RawRequest {
      return { method: 'POST', target: BACK, headers, body };
    }

    function chunked(body: Buffer | string, headers: Array<[string, string]>): RawRequest {
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
      const parts: Buffer[] = [];
      for (let offset = 0; offset < bytes.length; offset += 16 * KIB) {
        const part = bytes.subarray(offset, offset + 16 * KIB);
        parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
      }
      parts.push(Buffer.from('0\r\n\r\n'));
      return {
        method: 'POST',
        target: BACK,
        headers: [...headers, ['Transfer-Encoding', 'chunked']],
        body: Buffer.concat(parts),
        contentLength: false,
      };
    }

    function expectSpecError(response: RawResponse, status: number, description?: RegExp): void {
      expect(response.status, response.body.toString()).toBe(status);
      expect(header(response, 'cache-control')).toBe('no-store');
      expect(header(response, 'content-type')).toBe('application/json; charset=utf-8');
      const body = JSON.parse(response.body.toString()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
      expect(body.error).toBe('invalid_request');
      if (description) expect(body.error_description).toMatch(description);
    }

    it('a valid token is still accepted (200) and ends the session, also with charset=UTF-8', async () => {
      for (const type of [FORM, `${FORM}; charset=UTF-8`]) {
        const { agent, token } = await session();
        const response = await rawRequest(
          running.url,
          post([['Content-Type', type]], `logout_token=${token}`),
        );
        expect(response.status, response.body.toString()).toBe(200);
        expect(header(response, 'cache-control')).toBe('no-store');
        expect((await agent.get('/private').set('Accept', 'application/json')).status).toBe(401);
      }
      expect(running.events).toHaveLength(2);
    });

    it.each([
      ['charset=latin1', `${FORM}; charset=latin1`],
      ['charset=ISO-8859-1 (quoted)', `${FORM}; charset="ISO-8859-1"`],
      ['charset=utf-16', `${FORM}; charset=utf-16`],
    ])('a form with %s: 400 in the spec shape, nothing revoked', async (_name, type) => {
      const { agent, token } = await session();
      const response = await rawRequest(
        running.url,
        post([['Content-Type', type]], `logout_token=${token}`),
      );
      expectSpecError(response, 400, /charset/);
      await expectActive(agent);
    });

    it.each([
      ['gzip', (body: string) => gzipSync(body)],
      ['deflate', (body: string) => Buffer.from(body)],
      ['bogus', (body: string) => Buffer.from(body)],
      ['gzip with a body that is not gzip', (body: string) => Buffer.from(body)],
    ])('Content-Encoding: %s: 400 in the spec shape, nothing revoked', async (name, encode) => {
      const { agent, token } = await session();
      const encoding = name.split(' ')[0]!;
      for (const frame of [post, (h: Array<[string, string]>, b: Buffer) => chunked(b, h)]) {
        const response = await rawRequest(
          running.url,
          frame(
            [
              ['Content-Type', FORM],
              ['Content-Encoding', encoding],
            ],
            encode(`logout_token=${token}`),
          ),
        );
        expectSpecError(response, 400, /encod/);
      }
      await expectActive(agent);
    });

    it('a 70 KiB body, with Content-Length or chunked: 413 in the spec shape, nothing revoked', async () => {
      const { agent, token } = await session();
      const body = `logout_token=${token}&pad=${'x'.repeat(70 * KIB)}`;
      const declared = await rawRequest(running.url, post([['Content-Type', FORM]], body));
      expectSpecError(declared, 413, /larger than 65536 bytes/);
      const streamed = await rawRequest(running.url, chunked(body, [['Content-Type', FORM]]));
      expectSpecError(streamed, 413, /larger than 65536 bytes/);
      await expectActive(agent);
    });

    const FORM_ONLY = /^the body must be application\/x-www-form-urlencoded$/;
    const MALFORMED = /^Logout token rejected \(malformed\): /;
    // The bodies that could name the session carry its real token: had a global parser's reading
    // been taken (a JSON field, `logout_token[a]`), the session would end and expectActive fail.
    it.each<[string, string, (token: string) => string, RegExp]>([
      ['malformed JSON', 'application/json', () => '{"logout_token":', FORM_ONLY],
      [
        'a JSON body',
        'application/json',
        (token) => JSON.stringify({ logout_token: token }),
        FORM_ONLY,
      ],
      [
        'a form with 2,000 parameters and a bad token',
        FORM,
        () => 'x=1&'.repeat(2_000) + 'logout_token=a.b.c',
        MALFORMED,
      ],
      [
        'a form nested 100 levels deep',
        FORM,
        () => `${'a['.repeat(100)}${']'.repeat(100)}=1&logout_token=a.b.c`,
        MALFORMED,
      ],
      [
        'logout_token as an object',
        FORM,
        (token) => `logout_token[a]=${token}`,
        /^logout_token is missing$/,
      ],
      ['invalid percent-encoding', FORM, () => 'logout_token=%E0%A4%A&x=%', MALFORMED],
    ])('%s: 400 in the spec shape, nothing revoked', async (_name, type, body, description) => {
      const { agent, token } = await session();
      const response = await rawRequest(running.url, post([['Content-Type', type]], body(token)));
      expectSpecError(response, 400, description);
      await expectActive(agent);
    });

    it('a chunked body of 1 MiB without Content-Length: 413 early, reading stops at the bound', async () => {
      const { agent, token } = await session();
      const result = await slowChunkedUpload(running.url, `logout_token=${token}&pad=`, 1024 * KIB);

      expectSpecError(result.response, 413, /larger than 65536 bytes/);
      // The answer came while the client was still sending: well before the whole megabyte.
      expect(result.sentWhenAnswered).toBeLessThan(BACK_CHANNEL_MAX_BODY_BYTES + 64 * KIB);
      // The server read little more than the bound, and held none of the rest: past the bound,
      // Node.js still fills the paused request's buffer before its socket stops (64 KiB, its
      // high-water mark from Node.js 22), so up to three 64 KiB socket reads, not the megabyte.
      const read = running.bytesRead.get(result.localPort)?.();
      expect(read).toBeDefined();
      expect(read!).toBeLessThan(BACK_CHANNEL_MAX_BODY_BYTES + 192 * KIB);
      await expectActive(agent);
    });

    it('a client that reads its answer late still gets the 413: the connection is not reset under it', async () => {
      // The client sends 32 MiB as fast as it can and reads nothing for 300 ms. A server that closes
      // the socket with unread bytes makes the kernel send a reset; the client's write still under
      // way fails with it, and the 413 waiting in its receive buffer is never read. The server must
      // keep the connection open a while after answering, without reading more.
      const { agent, token } = await session();
      const upload = lateReadingUpload(
        running.url,
        `logout_token=${token}&pad=`,
        32 * 1024 * KIB,
        300,
      );
      const result = await upload;

      expect(result.response, `no answer: ${result.error}`).toBeDefined();
      expectSpecError(result.response!, 413, /larger than 65536 bytes/);
      expect(result.response!.headerList).toContainEqual(['connection', 'close']);
      // The server closed the connection once it had lingered, not the client's own deadline.
      expect(result.closedByServer).toBe(true);
      // Nothing was read while the connection lingered: a few socket reads past the bound (the
      // client writes as fast as loopback takes it), not the 32 MiB sent.
      const read = running.bytesRead.get(result.localPort)?.();
      expect(read).toBeDefined();
      expect(read!).toBeLessThan(BACK_CHANNEL_MAX_BODY_BYTES + 256 * KIB);
      await expectActive(agent);
    });
  },
);

/**
 * Sends a chunked POST of `total` bytes at once, reads nothing for `readAfterMs`, then reads the
 * answer until the server closes the connection.
 */
function lateReadingUpload(
  baseUrl: string,
  prefix: string,
  total: number,
  readAfterMs: number,
): Promise<{ response?: RawResponse; error?: string; localPort: number; closedByServer: boolean }> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    let error: string | undefined;
    let localPort = 0;
    let closedByServer = true;
    const deadline = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, 10_000);
    socket.pause();
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      const body = Buffer.concat([Buffer.from(prefix), Buffer.alloc(total, 'x')]);
      socket.write(
        `POST ${BACK} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: ${FORM}\r\n` +
          'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
          `${body.length.toString(16)}\r\n`,
      );
      socket.write(body);
      socket.write('\r\n0\r\n\r\n');
      setTimeout(() => socket.resume(), readAfterMs);
    });
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', (cause: Error) => {
      error = `${(cause as NodeJS.ErrnoException).code ?? cause.message} after ${Buffer.concat(received).length} bytes`;
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      const data = Buffer.concat(received);
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        resolve({ error: error ?? 'no response', localPort, closedByServer });
        return;
      }
      resolve({ response: parseRawResponse(data, headEnd), error, localPort, closedByServer });
    });
  });
}

function parseRawResponse(data: Buffer, headEnd: number): RawResponse {
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headerList = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const length = Number(headerList.find(([n]) => n === 'content-length')?.[1] ?? 0);
  const body = data.subarray(headEnd + 4, headEnd + 4 + length);
  return { status, headerList, body, elapsedMs: 0, timedOut: false, complete: true };
}

/**
 * Sends a chunked POST of `total` bytes in 8 KiB chunks, one every 5 ms, and stops when the server
 * answers or closes the connection (or after 10 s).
 */
function slowChunkedUpload(
  baseUrl: string,
  prefix: string,
  total: number,
): Promise<{ response: RawResponse; sentWhenAnswered: number; localPort: number }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    let sent = 0;
    let sentWhenAnswered = -1;
    let localPort = 0;
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => finish(), 10_000);
    const finish = () => {
      clearTimeout(deadline);
      clearInterval(timer);
      socket.destroy();
      const data = Buffer.concat(received);
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        reject(new Error(`no response (sent ${sent} bytes)`));
        return;
      }
      resolve({
        response: parseRawResponse(data, headEnd),
        sentWhenAnswered: sentWhenAnswered < 0 ? sent : sentWhenAnswered,
        localPort,
      });
    };
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      socket.write(
        `POST ${BACK} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: ${FORM}\r\n` +
          'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      );
      const first = Buffer.from(prefix);
      socket.write(`${first.length.toString(16)}\r\n`);
      socket.write(first);
      socket.write('\r\n');
      sent = first.length;
      const chunk = Buffer.alloc(8 * KIB, 'x');
      timer = setInterval(() => {
        if (socket.destroyed || sent >= total) {
          clearInterval(timer);
          if (!socket.destroyed) socket.write('0\r\n\r\n');
          return;
        }
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n');
        sent += chunk.length;
      }, 5);
    });
    socket.on('data', (data: Buffer) => {
      if (sentWhenAnswered < 0) sentWhenAnswered = sent;
      received.push(data);
    });
    socket.on('error', () => undefined);
    socket.on('close', finish);
  });
}
