import { describe, expect, it } from 'vitest';
import { readBoundedText } from './read-bounded-text';

/** A chunked body (no Content-Length) of `chunks` chunks of `size` bytes; counts what was pulled. */
function endless(size: number, chunks: number): { response: Response; pulled: () => number } {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= chunks) return controller.close();
      pulled++;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
  });
  return { response: new Response(body), pulled: () => pulled };
}

describe('readBoundedText', () => {
  it('reads a body within the bound as UTF-8', async () => {
    await expect(readBoundedText(new Response('{"a":"é"}'), 64)).resolves.toBe('{"a":"é"}');
    await expect(readBoundedText(new Response(null), 64)).resolves.toBe('');
  });

  it('refuses an announced Content-Length above the bound before reading', async () => {
    const { response, pulled } = endless(1024, 10);
    const announced = new Response(response.body, { headers: { 'content-length': '10240' } });
    await expect(readBoundedText(announced, 4096)).resolves.toBeUndefined();
    expect(pulled()).toBeLessThanOrEqual(1);
  });

  it('stops reading a chunked body as soon as the count passes the bound', async () => {
    const { response, pulled } = endless(1024, 1_000_000);
    await expect(readBoundedText(response, 4096)).resolves.toBeUndefined();
    expect(pulled()).toBeLessThan(10);
  });

  it('accepts a body of exactly the bound', async () => {
    const { response } = endless(1024, 4);
    await expect(readBoundedText(response, 4096)).resolves.toHaveLength(4096);
  });
});
