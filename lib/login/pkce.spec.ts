import { describe, expect, it } from 'vitest';
import { createPkcePair, pkceChallenge, shouldUsePkce } from './pkce';

describe('PKCE', () => {
  it('computes the S256 challenge of RFC 7636 appendix B', () => {
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('creates 43-character base64url verifiers, different every time, with their challenge', () => {
    const pairs = Array.from({ length: 50 }, () => createPkcePair());
    for (const pair of pairs) {
      expect(pair.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(pair.challenge).toBe(pkceChallenge(pair.verifier));
      expect(pair.method).toBe('S256');
    }
    expect(new Set(pairs.map((p) => p.verifier)).size).toBe(pairs.length);
  });

  it('is used unless disabled or the OP announces methods without S256', () => {
    expect(shouldUsePkce(true, undefined)).toBe(true);
    expect(shouldUsePkce(true, ['plain', 'S256'])).toBe(true);
    expect(shouldUsePkce(true, ['plain'])).toBe(false);
    expect(shouldUsePkce(true, [])).toBe(false);
    expect(shouldUsePkce(false, ['S256'])).toBe(false);
  });
});
