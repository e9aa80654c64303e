import { describe, expect, it } from 'vitest';
import { pendingLogoutsHealth } from './pending-logouts-health';

const limits = { maxCount: 2, maxAgeMs: 60_000 };
const NOW = 1_000_000;

describe('pendingLogoutsHealth', () => {
  it('is up with none pending', () => {
    expect(pendingLogoutsHealth({ count: 0, oldestSince: undefined }, limits, NOW)).toEqual({
      status: 'up',
      count: 0,
      maxCount: 2,
      maxAgeMs: 60_000,
    });
  });

  it('is up at the maximum count and age, down one past either', () => {
    const atLimit = { count: 2, oldestSince: NOW - 60_000 };
    expect(pendingLogoutsHealth(atLimit, limits, NOW)).toMatchObject({
      status: 'up',
      oldestAgeMs: 60_000,
    });
    expect(pendingLogoutsHealth({ ...atLimit, count: 3 }, limits, NOW).status).toBe('down');
    expect(
      pendingLogoutsHealth({ count: 1, oldestSince: NOW - 60_001 }, limits, NOW),
    ).toMatchObject({ status: 'down', count: 1, oldestAgeMs: 60_001 });
  });

  it('with a maximum of 0, any pending logout is down', () => {
    expect(
      pendingLogoutsHealth({ count: 1, oldestSince: NOW }, { maxCount: 0, maxAgeMs: 60_000 }, NOW)
        .status,
    ).toBe('down');
  });
});
