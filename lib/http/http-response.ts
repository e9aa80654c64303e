import type { ServerResponse } from 'node:http';

/** Headers every logout endpoint answer carries: nothing here may be cached. @internal */
export function setNoStore(response: ServerResponse): void {
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Pragma', 'no-cache');
}

/**
 * Ends a response with an OAuth-style error body, `{"error":"invalid_request","error_description":...}`,
 * uncacheable. Works on Express's and Fastify's raw responses alike.
 *
 * @internal
 */
export function sendOAuthError(
  response: ServerResponse,
  status: number,
  description: string,
  headers: Record<string, string> = {},
): void {
  response.end(writeOAuthErrorHead(response, status, description, headers));
}

/**
 * How long a connection whose request body was left unread stays open after its refusal was sent:
 * closing a socket with unread bytes makes the kernel send a reset, and a client still uploading
 * then fails its write and never reads the answer waiting for it. Nothing more is read meanwhile,
 * so a client that leaves sooner is not noticed: the socket is held for the whole time (less than
 * the 10 s a body may take to arrive).
 *
 * @internal
 */
export const LINGER_AFTER_REFUSAL_MS = 2_000;

/**
 * {@link sendOAuthError} for a request whose body was left unread: answers with `Connection: close`
 * at once (the whole body, by `Content-Length`), reads nothing more, and closes the connection after
 * `lingerMs`, so that the client reads the answer before the close resets the connection. Works on
 * Express's and Fastify's raw responses alike.
 *
 * @internal
 */
export function sendOAuthErrorAndClose(
  response: ServerResponse,
  status: number,
  description: string,
  headers: Record<string, string> = {},
  lingerMs = LINGER_AFTER_REFUSAL_MS,
): void {
  response.write(
    writeOAuthErrorHead(response, status, description, { ...headers, Connection: 'close' }),
  );
  const end = () => {
    clearTimeout(timer);
    if (!response.writableEnded) response.end();
  };
  const timer = setTimeout(end, lingerMs);
  timer.unref?.();
  response.once('close', end);
}

/** Sets the status and headers of an OAuth-style error; returns its body. */
function writeOAuthErrorHead(
  response: ServerResponse,
  status: number,
  description: string,
  headers: Record<string, string>,
): string {
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  response.statusCode = status;
  setNoStore(response);
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  return body;
}

/** Ends a response with 200 and no body, uncacheable. @internal */
export function sendEmptyOk(response: ServerResponse): void {
  response.statusCode = 200;
  setNoStore(response);
  response.setHeader('Content-Length', '0');
  response.end();
}
