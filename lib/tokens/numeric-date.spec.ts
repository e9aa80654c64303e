import { describe, expect, it } from 'vitest';
import { MAX_NUMERIC_DATE, numericDateProblem } from './numeric-date';

describe('numericDateProblem', () => {
  it('accepts whole and fractional seconds from the epoch to the year 9999', () => {
    for (const value of [0, 1_700_000_000, 1_700_000_000.5, MAX_NUMERIC_DATE]) {
      expect(numericDateProblem('exp', value)).toBeUndefined();
    }
    expect(new Date(MAX_NUMERIC_DATE * 1000).toISOString()).toBe('9999-12-31T23:59:59.000Z');
  });
  it.each([
    ['a string', '1700000000'],
    ['null', null],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['negative', -1],
    ['after the year 9999', MAX_NUMERIC_DATE + 1],
    ['1e13 (an invalid Date)', 1e13],
  ])('refuses %s, naming the claim and not the value', (_name, value) => {
    const problem = numericDateProblem('nbf', value);
    expect(problem).toMatch(/^nbf is not /);
    expect(problem).not.toContain(String(value));
  });
});
