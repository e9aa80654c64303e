/**
 * The body of a `fetch` response as UTF-8 text, reading at most `maxBytes` bytes: a `Content-Length`
 * above the limit is refused before any byte is read, and a body that grows past it (chunked, or
 * longer than announced) is cancelled as soon as the count passes it, so that memory stays bounded
 * whatever the server sends. Resolves `undefined` when the body is too large; rejects when reading
 * fails (the caller's abort signal included).
 *
 * Every answer the library reads from an OP (discovery, JWKS, token endpoint) goes through it.
 *
 * @internal
 */
export async function readBoundedText(
  response: Response,
  maxBytes: number,
): Promise<string | undefined> {
  const announced = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(announced) && announced > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, received).toString('utf8');
}
