import type { IncomingMessage } from 'node:http';

/** A form field read from a request body. @internal */
export type FormField =
  { ok: true; value: string } | { ok: false; status: 400 | 413; problem: string };

/** The request as a route handler sees it: Express's (body parsed) or a raw Node request. @internal */
export interface FormRequest extends IncomingMessage {
  body?: unknown;
}

const FORM_URLENCODED = 'application/x-www-form-urlencoded';

/** Whether the request's content type is `application/x-www-form-urlencoded` (parameters allowed). */
export function isFormUrlEncoded(request: IncomingMessage): boolean {
  const type = request.headers['content-type'];
  if (type === FORM_URLENCODED) return true;
  return (
    typeof type === 'string' && type.split(';', 1)[0]?.trim().toLowerCase() === FORM_URLENCODED
  );
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
  const raw = await readRawBody(request, maxBytes);
  if (raw === undefined) {
    return { ok: false, status: 413, problem: `the body is larger than ${maxBytes} bytes` };
  }
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

/** The raw body as text, or `undefined` when it is larger than `maxBytes`. */
function readRawBody(request: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  if (!request.readable || request.readableEnded) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        request.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}
