import { describe, expect, it } from 'vitest';
import { errorType } from './error-type';

describe('errorType', () => {
  it("says an error's stable code, else its class name, never its message", () => {
    expect(
      errorType(Object.assign(new Error('sid abc'), { code: 'ERR_REPOSITORY_UNAVAILABLE' })),
    ).toBe('ERR_REPOSITORY_UNAVAILABLE');
    expect(errorType(new TypeError('session 1234 not found'))).toBe('TypeError');
    expect(errorType(Object.assign(new Error('x'), { code: 'secret value 1234' }))).toBe('Error');
    expect(errorType('a string thrown')).toBe('Error');
    expect(errorType(undefined)).toBe('Error');
    expect(errorType(null)).toBe('Error');
    expect(errorType(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(
      'ECONNREFUSED',
    );
    const renamed = Object.assign(new Error('x'), { name: 'Error: sid abc' });
    expect(errorType(renamed)).toBe('Error');
  });
});
