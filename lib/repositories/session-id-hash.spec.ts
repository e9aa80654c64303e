import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashSessionId } from './session-id-hash';

describe('hashSessionId', () => {
  it('is the base64url SHA-256 of the session id, 43 characters', () => {
    const digest = hashSessionId('s%3Aabc.def');
    expect(digest).toBe(createHash('sha256').update('s%3Aabc.def').digest('base64url'));
    expect(digest).toHaveLength(43);
    expect(digest).not.toContain('abc');
  });

  it('differs for different session ids', () => {
    expect(hashSessionId('a')).not.toBe(hashSessionId('b'));
  });
});
