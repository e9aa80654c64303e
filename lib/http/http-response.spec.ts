import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendOAuthErrorAndClose } from './http-response';

const LINGER_MS = 300;

let server: Server | undefined;
let serverSocket: Socket | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server that refuses every request at once, its body unread, with a short linger. */
async function refusingServer(): Promise<number> {
  server = createServer((request: IncomingMessage, response) => {
    request.pause();
    sendOAuthErrorAndClose(response, 413, 'too large', {}, LINGER_MS);
  });
  server.on('connection', (socket: Socket) => (serverSocket = socket));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('sendOAuthErrorAndClose', () => {
  it('answers at once, reads nothing more, and closes the connection after the linger', async () => {
    const port = await refusingServer();
    const socket = connect(port, '127.0.0.1');
    const started = Date.now();
    let answeredAfter = -1;
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      if (answeredAfter < 0) answeredAfter = Date.now() - started;
      received.push(chunk);
    });
    socket.on('error', () => undefined);
    socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
        'Content-Length: 10000000\r\n\r\n',
    );
    socket.write(Buffer.alloc(4 * 1024 * 1024, 'x'));
    const closedAfter = await new Promise<number>((resolve) =>
      socket.on('close', () => resolve(Date.now() - started)),
    );

    const answer = Buffer.concat(received).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toContain('Cache-Control: no-store');
    expect(answer.endsWith('{"error":"invalid_request","error_description":"too large"}')).toBe(
      true,
    );
    expect(answeredAfter).toBeGreaterThanOrEqual(0);
    expect(answeredAfter).toBeLessThan(LINGER_MS);
    // The server closed it, after the linger: not at once, and not never.
    expect(closedAfter).toBeGreaterThanOrEqual(LINGER_MS - 20);
    expect(closedAfter).toBeLessThan(LINGER_MS + 2000);
    // Of the 4 MiB sent, the server read what its socket takes in a few reads, not the rest.
    expect(serverSocket?.bytesRead ?? Infinity).toBeLessThan(1024 * 1024);
  });
});
