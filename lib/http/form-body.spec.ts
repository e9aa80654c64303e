import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  charsetProblem,
  contentEncodingProblem,
  hasUnreadBody,
  isFormUrlEncoded,
  keepReadBody,
  readBoundedBody,
  readFormField,
  readParsedFormField,
  type FormField,
  type FormRequest,
} from './form-body';

const MAX = 64;

/** A request whose body a framework has parsed already (`body` set), or a raw one to be read. */
function request(headers: Record<string, string>, body?: unknown, raw?: string): FormRequest {
  const stream = Readable.from(raw === undefined ? [] : [Buffer.from(raw)]);
  return Object.assign(stream, { headers, ...(body === undefined ? {} : { body }) }) as never;
}

const ok = (value: string): FormField => ({ ok: true, value });
const problem = (status: 400 | 413, text: string): FormField => ({
  ok: false,
  status,
  problem: text,
});

describe('isFormUrlEncoded', () => {
  it('accepts the form type in any case, with parameters', () => {
    for (const type of [
      'application/x-www-form-urlencoded',
      'Application/X-WWW-Form-Urlencoded',
      'application/x-www-form-urlencoded; charset=utf-8',
      ' application/x-www-form-urlencoded ;charset=UTF-8',
    ]) {
      expect(isFormUrlEncoded(request({ 'content-type': type })), type).toBe(true);
    }
  });

  it('refuses other types and no type', () => {
    for (const type of ['application/json', 'multipart/form-data', 'text/plain', '']) {
      expect(isFormUrlEncoded(request({ 'content-type': type })), type).toBe(false);
    }
    expect(isFormUrlEncoded(request({}))).toBe(false);
  });
});

describe('readParsedFormField (a body the framework parsed)', () => {
  const read = (body: unknown, headers: Record<string, string> = {}) =>
    readParsedFormField(request(headers, body), 'logout_token', MAX);

  it('answers at once: the one string value', () => {
    expect(read({ logout_token: 'a.b.c', other: ['x', 'y'] })).toEqual(ok('a.b.c'));
  });

  it('refuses a missing, repeated, empty or non-string field', () => {
    expect(read({})).toEqual(problem(400, 'logout_token is missing'));
    expect(read({ logout_token: undefined })).toEqual(problem(400, 'logout_token is missing'));
    expect(read({ logout_token: ['a', 'b'] })).toEqual(problem(400, 'logout_token is repeated'));
    expect(read({ logout_token: '' })).toEqual(
      problem(400, 'logout_token is not a non-empty string'),
    );
    expect(read({ logout_token: { a: 'b' } })).toEqual(
      problem(400, 'logout_token is not a non-empty string'),
    );
    expect(read({ logout_token: null })).toEqual(
      problem(400, 'logout_token is not a non-empty string'),
    );
  });

  it("never takes the field from the body's prototype", () => {
    const body: Record<string, unknown> = Object.create({ logout_token: 'inherited' });
    expect(read(body)).toEqual(problem(400, 'logout_token is missing'));
  });

  it('refuses a body that is not a form', () => {
    for (const body of ['text', 42, null, ['a'], Buffer.from('logout_token=x')]) {
      expect(read(body)).toEqual(problem(400, 'the body is not a url-encoded form'));
    }
  });

  it('refuses a declared length over the bound, parsed or not', () => {
    const tooLong = { 'content-length': String(MAX + 1) };
    expect(read({ logout_token: 'x' }, tooLong)).toEqual(
      problem(413, `the body is larger than ${MAX} bytes`),
    );
    expect(readParsedFormField(request(tooLong), 'logout_token', MAX)).toEqual(
      problem(413, `the body is larger than ${MAX} bytes`),
    );
  });

  it('leaves a raw body to readFormField (undefined)', () => {
    expect(readParsedFormField(request({}), 'logout_token', MAX)).toBeUndefined();
  });
});

describe('readFormField', () => {
  const read = (raw: string) => readFormField(request({}, undefined, raw), 'logout_token', MAX);

  it('answers a parsed body as readParsedFormField does', async () => {
    await expect(
      readFormField(request({}, { logout_token: 'a.b.c' }), 'logout_token', MAX),
    ).resolves.toEqual(ok('a.b.c'));
  });

  it('reads a raw body: one value, others ignored', async () => {
    await expect(read('x=1&logout_token=a.b.c&y=2')).resolves.toEqual(ok('a.b.c'));
  });

  it('refuses a missing, repeated or empty field in a raw body', async () => {
    await expect(read('x=1')).resolves.toEqual(problem(400, 'logout_token is missing'));
    await expect(read('logout_token=a&logout_token=b')).resolves.toEqual(
      problem(400, 'logout_token is repeated'),
    );
    await expect(read('logout_token=')).resolves.toEqual(
      problem(400, 'logout_token is not a non-empty string'),
    );
  });

  it('refuses a raw body over the bound', async () => {
    await expect(read(`logout_token=${'a'.repeat(MAX)}`)).resolves.toEqual(
      problem(413, `the body is larger than ${MAX} bytes`),
    );
  });
});

describe('charsetProblem', () => {
  const problemOf = (type: string) => charsetProblem(request({ 'content-type': type }));

  it('accepts no charset, UTF-8 and US-ASCII (any case, quoted)', () => {
    for (const type of [
      'application/x-www-form-urlencoded',
      'application/x-www-form-urlencoded; charset=utf-8',
      'application/x-www-form-urlencoded;charset="UTF-8"',
      'application/x-www-form-urlencoded; charset=US-ASCII',
    ]) {
      expect(problemOf(type), type).toBeUndefined();
    }
  });

  it('refuses any other charset', () => {
    for (const charset of ['latin1', 'ISO-8859-1', '"utf-16"', 'bogus', '']) {
      expect(problemOf(`application/x-www-form-urlencoded; charset=${charset}`)).toMatch(/UTF-8/);
    }
  });
});

describe('contentEncodingProblem', () => {
  it('accepts no encoding and identity', () => {
    expect(contentEncodingProblem(request({}))).toBeUndefined();
    expect(contentEncodingProblem(request({ 'content-encoding': 'Identity' }))).toBeUndefined();
  });

  it('refuses every other encoding', () => {
    for (const encoding of ['gzip', 'deflate', 'br', 'zstd', 'bogus', 'gzip, identity']) {
      expect(contentEncodingProblem(request({ 'content-encoding': encoding }))).toMatch(/encoded/);
    }
  });
});

describe('readBoundedBody', () => {
  it('reads a body up to the bound', async () => {
    const body = await readBoundedBody(request({}, undefined, 'a'.repeat(MAX)), MAX);
    expect(body?.toString()).toBe('a'.repeat(MAX));
  });

  it('stops at the first byte over the bound: undefined, the rest left unread', async () => {
    const chunks = Array.from({ length: 100 }, () => Buffer.alloc(MAX / 2, 'a'));
    let pulled = 0;
    const stream = Readable.from(
      (function* () {
        for (const chunk of chunks) {
          pulled++;
          yield chunk;
        }
      })(),
    );
    const raw = Object.assign(stream, { headers: { 'transfer-encoding': 'chunked' } }) as never;
    await expect(readBoundedBody(raw, MAX)).resolves.toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pulled).toBeLessThan(10);
    expect(hasUnreadBody(raw)).toBe(true);
  });

  it('gives up on a body that stops arriving (a slow or silent client) after the deadline', async () => {
    const silent = new Readable({ read: () => undefined });
    silent.push(Buffer.from('logout_token=a'));
    const raw = Object.assign(silent, { headers: {} }) as never;
    const started = Date.now();
    await expect(readBoundedBody(raw, MAX, 50)).rejects.toThrow(/did not arrive/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a request closed before its end is a failure, not a wait', async () => {
    const closing = new Readable({ read: () => undefined });
    const raw = Object.assign(closing, { headers: {} }) as never;
    const read = readBoundedBody(raw, MAX, 60_000);
    closing.destroy();
    await expect(read).rejects.toThrow(/^the request was aborted$/);
  });

  it('refuses a declared length over the bound without reading', async () => {
    const raw = request({ 'content-length': String(MAX + 1) }, undefined, 'x');
    await expect(readBoundedBody(raw, MAX)).resolves.toBeUndefined();
  });
});

describe('a body read ahead (keepReadBody)', () => {
  it('is what readFormField reads, whatever a parser left in request.body', async () => {
    const raw = request({}, { logout_token: 'parsed' });
    keepReadBody(raw, Buffer.from('logout_token=read.ahead.token'));
    expect(readParsedFormField(raw, 'logout_token', MAX)).toBeUndefined();
    await expect(readFormField(raw, 'logout_token', MAX)).resolves.toEqual(ok('read.ahead.token'));
  });
});
