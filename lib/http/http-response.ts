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
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  response.statusCode = status;
  setNoStore(response);
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
}

/** Ends a response with 200 and no body, uncacheable. @internal */
export function sendEmptyOk(response: ServerResponse): void {
  response.statusCode = 200;
  setNoStore(response);
  response.setHeader('Content-Length', '0');
  response.end();
}
