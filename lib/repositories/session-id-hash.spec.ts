import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashSessionId, hashSid, isSidDigest } from './session-id-hash';

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

describe('hashSid', () => {
  it('is sha256: and the base64url SHA-256 of the sid, 50 characters, recognised as a digest', () => {
    const digest = hashSid('9d4f0b3c-sid');
    expect(digest).toBe(
      `sha256:${createHash('sha256').update('9d4f0b3c-sid').digest('base64url')}`,
    );
    expect(digest).toHaveLength(50);
    expect(digest).not.toContain('9d4f0b3c');
    expect(isSidDigest(digest)).toBe(true);
  });

  it('tells a sid in clear from a digest, and compares exactly', () => {
    expect(isSidDigest('9d4f0b3c-sid')).toBe(false);
    expect(isSidDigest(`${hashSid('a')}x`)).toBe(false);
    expect(hashSid('abc')).not.toBe(hashSid('ABC'));
    expect(hashSid('abc')).not.toBe(hashSid('abc '));
  });
});
