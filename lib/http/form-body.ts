import type { IncomingMessage } from 'node:http';

/** A form field read from a request body. @internal */
export type FormField =
  { ok: true; value: string } | { ok: false; status: 400 | 413; problem: string };

/** The request as a route handler sees it: Express's (body parsed) or a raw Node request. @internal */
export interface FormRequest extends IncomingMessage {
  body?: unknown;
}

const FORM_URLENCODED = 'application/x-www-form-urlencoded';

/** Where {@link keepReadBody} leaves a body read ahead of the app's body parsers. */
const READ_AHEAD = Symbol('nest-oidc-logout.read-ahead-body');

type ReadAheadRequest = IncomingMessage & { [READ_AHEAD]?: Buffer };

/**
 * Keeps a body read ahead of the app's body parsers (see `BackChannelReadAhead`), for
 * {@link readFormField}. @internal
 */
export function keepReadBody(request: IncomingMessage, body: Buffer): void {
  (request as ReadAheadRequest)[READ_AHEAD] = body;
}

/** Whether the request's content type is `application/x-www-form-urlencoded` (parameters allowed). */
export function isFormUrlEncoded(request: IncomingMessage): boolean {
  const type = request.headers['content-type'];
  if (type === FORM_URLENCODED) return true;
  return (
    typeof type === 'string' && type.split(';', 1)[0]?.trim().toLowerCase() === FORM_URLENCODED
  );
}

/** Charsets a url-encoded body may declare: the form is ASCII, decoded as UTF-8. */
const ACCEPTED_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

/**
 * Why the body's declared charset is refused, or `undefined`: none, or UTF-8 (US-ASCII), is
 * accepted; a form in another charset (latin1, UTF-16, ...) is not decoded here.
 *
 * @internal
 */
export function charsetProblem(request: IncomingMessage): string | undefined {
  const type = request.headers['content-type'];
  if (typeof type !== 'string') return undefined;
  for (const parameter of type.split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const value = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (!ACCEPTED_CHARSETS.has(value))
      return 'the body must be UTF-8 (no charset, or charset=utf-8)';
  }
  return undefined;
}

/**
 * Why the body's `Content-Encoding` is refused, or `undefined` for none (or `identity`): a logout
 * request is a few KiB, and a compressed body is not inflated here (no decompression bombs).
 *
 * @internal
 */
export function contentEncodingProblem(request: IncomingMessage): string | undefined {
  const encoding = request.headers['content-encoding'];
  if (encoding === undefined) return undefined;
  if (typeof encoding === 'string' && ['', 'identity'].includes(encoding.trim().toLowerCase())) {
    return undefined;
  }
  return 'the body must not be content-encoded (no Content-Encoding, or identity)';
}

/**
 * Whether the request has a body that nobody has read yet: after a refusal, the connection is closed
 * rather than the rest of the body read and thrown away.
 *
 * @internal
 */
export function hasUnreadBody(request: IncomingMessage): boolean {
  const framed =
    request.headers['transfer-encoding'] !== undefined ||
    Number(request.headers['content-length'] ?? 0) > 0;
  return framed && !request.readableEnded;
}

/**
 * Reads exactly one string field of a url-encoded form body. A field that is missing, repeated or
 * not a plain string is a problem; other fields are ignored. Uses the body the framework already
 * parsed (Express's urlencoded parser turns a repeated field into an array), or reads the raw body
 * itself, at most `maxBytes`.
 *
 * @internal
 */
export async function readFormField(
  request: FormRequest,
  name: string,
  maxBytes: number,
): Promise<FormField> {
  const readAhead = (request as ReadAheadRequest)[READ_AHEAD];
  if (readAhead !== undefined) return formField(readAhead.toString('utf8'), name);
  return readParsedFormField(request, name, maxBytes) ?? readRawFormField(request, name, maxBytes);
}

/**
 * {@link readFormField} without waiting when it needs no I/O: the answer when the declared length is
 * too large or the framework has parsed the body already, `undefined` when the raw body must be read
 * ({@link readFormField} does).
 *
 * @internal
 */
export function readParsedFormField(
  request: FormRequest,
  name: string,
  maxBytes: number,
): FormField | undefined {
  if ((request as ReadAheadRequest)[READ_AHEAD] !== undefined) return undefined;
  const declared = Number(request.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return { ok: false, status: 413, problem: `the body is larger than ${maxBytes} bytes` };
  }
  // Express has usually parsed the body already; Fastify's middleware (and an app without a body
  // parser) sees the raw request, whose body is read by readRawFormField.
  const body = request.body;
  if (body === undefined) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Buffer.isBuffer(body)) {
    return { ok: false, status: 400, problem: 'the body is not a url-encoded form' };
  }
  const value: unknown = Object.hasOwn(body, name)
    ? (body as Record<string, unknown>)[name]
    : undefined;
  // A parser that makes arrays of repeated fields also makes one of `name[]=x`: refuse both.
  if (Array.isArray(value)) return { ok: false, status: 400, problem: `${name} is repeated` };
  return value === undefined ? missing(name) : single(name, value);
}

/** The field from the raw body, read here (at most `maxBytes`). */
async function readRawFormField(
  request: FormRequest,
  name: string,
  maxBytes: number,
): Promise<FormField> {
  const raw = await readBoundedBody(request, maxBytes);
  if (raw === undefined) {
    return { ok: false, status: 413, problem: `the body is larger than ${maxBytes} bytes` };
  }
  return formField(raw.toString('utf8'), name);
}

/** The field from a url-encoded body. */
function formField(raw: string, name: string): FormField {
  const values = new URLSearchParams(raw).getAll(name);
  if (values.length === 0) return missing(name);
  if (values.length > 1) return { ok: false, status: 400, problem: `${name} is repeated` };
  return single(name, values[0]);
}

const missing = (name: string): FormField => ({
  ok: false,
  status: 400,
  problem: `${name} is missing`,
});

/** The field's only value: a non-empty string. */
function single(name: string, value: unknown): FormField {
  if (typeof value !== 'string' || value.length === 0) {
    return { ok: false, status: 400, problem: `${name} is not a non-empty string` };
  }
  return { ok: true, value };
}

/** How long a body may take to arrive in full: a client that sends slowly or stops is refused. */
export const BODY_READ_TIMEOUT_MS = 10_000;

/**
 * The raw body, or `undefined` as soon as more than `maxBytes` have arrived: the bytes are counted as
 * they arrive (a chunked body has no `Content-Length` to trust), and reading stops there: the stream
 * is paused (Node.js fills its request buffer, 64 KiB, before the socket stops) and nothing is kept
 * (answer with `sendOAuthErrorAndClose`). Rejects when the request is aborted or closed before its
 * end, or when the whole body has not arrived within `timeoutMs` (a slow or silent client holds
 * nothing for long, whatever the server's own timeouts).
 *
 * @internal
 */
export function readBoundedBody(
  request: IncomingMessage,
  maxBytes: number,
  timeoutMs = BODY_READ_TIMEOUT_MS,
): Promise<Buffer | undefined> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(undefined);
  if (!request.readable || request.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        request.pause();
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onAborted = () => onError(new Error('the request was aborted'));
    const timer = setTimeout(() => {
      request.pause();
      onError(new Error(`the body did not arrive within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref?.();
    const cleanup = () => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
      request.off('close', onAborted);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
    // Closed before its end (a socket torn down without 'aborted'): never left waiting.
    request.on('close', onAborted);
  });
}
