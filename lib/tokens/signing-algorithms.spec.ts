import { describe, expect, it } from 'vitest';
import { resolveAlgorithms } from './signing-algorithms';

describe('resolveAlgorithms', () => {
  it('uses the configured list when there is one', () => {
    expect(resolveAlgorithms(['ES256'], ['RS256', 'ES256'])).toEqual(['ES256']);
  });

  it('keeps HS256 only when configured explicitly', () => {
    expect(resolveAlgorithms(['HS256'], undefined)).toEqual(['HS256']);
    expect(resolveAlgorithms(undefined, ['HS256', 'RS256'])).toEqual(['RS256']);
  });

  it('never returns none, even when the OP advertises it', () => {
    expect(resolveAlgorithms(undefined, ['none', 'ES256'])).toEqual(['ES256']);
    expect(resolveAlgorithms(['none', 'RS256'], undefined)).toEqual(['RS256']);
  });

  it('falls back to RS256 when nothing usable is known', () => {
    expect(resolveAlgorithms(undefined, undefined)).toEqual(['RS256']);
    expect(resolveAlgorithms(undefined, ['none', 'HS512'])).toEqual(['RS256']);
  });
});
