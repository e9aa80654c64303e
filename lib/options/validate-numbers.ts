import {
  DEFAULT_CLEANUP_INTERVAL_SECONDS,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_IN_MEMORY_MAX_ENTRIES,
  DEFAULT_SESSION_TTL_SECONDS,
  DEFAULT_STORE_TIMEOUT_MS,
} from '../oidc-logout.constants';
import { describeValue, Problems } from './option-checks';

/** The integer options of the module: their ranges, units and defaults. */

interface IntegerRule {
  key:
    | 'clockToleranceSeconds'
    | 'sessionTtlSeconds'
    | 'inMemoryMaxEntries'
    | 'cleanupIntervalSeconds'
    | 'httpTimeoutMs'
    | 'storeTimeoutMs';
  min: number;
  max: number;
  fallback: number;
  unit: string;
}

const INTEGER_RULES: readonly IntegerRule[] = [
  {
    key: 'clockToleranceSeconds',
    min: 0,
    max: 600,
    fallback: DEFAULT_CLOCK_TOLERANCE_SECONDS,
    unit: 'seconds',
  },
  {
    key: 'sessionTtlSeconds',
    min: 1,
    max: 31_536_000,
    fallback: DEFAULT_SESSION_TTL_SECONDS,
    unit: 'seconds',
  },
  {
    key: 'inMemoryMaxEntries',
    min: 1,
    max: 10_000_000,
    fallback: DEFAULT_IN_MEMORY_MAX_ENTRIES,
    unit: 'entries',
  },
  {
    key: 'cleanupIntervalSeconds',
    min: 1,
    max: 604_800,
    fallback: DEFAULT_CLEANUP_INTERVAL_SECONDS,
    unit: 'seconds',
  },
  {
    key: 'httpTimeoutMs',
    min: 1,
    max: 60_000,
    fallback: DEFAULT_HTTP_TIMEOUT_MS,
    unit: 'milliseconds',
  },
  {
    key: 'storeTimeoutMs',
    min: 1,
    max: 60_000,
    fallback: DEFAULT_STORE_TIMEOUT_MS,
    unit: 'milliseconds',
  },
];

function checkInteger(
  problems: Problems,
  object: Record<string, unknown>,
  rule: IntegerRule,
): number {
  const value = object[rule.key];
  if (value === undefined) {
    return rule.fallback;
  }
  const range = `an integer number of ${rule.unit} between ${rule.min} and ${rule.max}`;
  if (typeof value !== 'number') {
    problems.add(
      rule.key,
      `must be a number of ${rule.unit}`,
      describeValue(value),
      `use ${range}, e.g. ${rule.fallback} (convert environment variables with Number(...))`,
    );
  } else if (!Number.isFinite(value) || !Number.isInteger(value)) {
    problems.add(rule.key, 'must be a finite integer', describeValue(value), `use ${range}`);
  } else if (value < rule.min) {
    problems.add(
      rule.key,
      rule.min === 0 ? 'must not be negative' : 'must be greater than 0 (a non-positive limit)',
      describeValue(value),
      `use ${range}`,
    );
  } else if (value > rule.max) {
    problems.add(rule.key, `must be at most ${rule.max}`, describeValue(value), `use ${range}`);
  } else {
    return value;
  }
  return rule.fallback;
}

/** Every integer option ({@link INTEGER_RULES}), its default when absent or invalid. */
export function validateNumbers(
  problems: Problems,
  raw: Record<string, unknown>,
): Record<IntegerRule['key'], number> {
  const numbers = {} as Record<IntegerRule['key'], number>;
  for (const rule of INTEGER_RULES) {
    numbers[rule.key] = checkInteger(problems, raw, rule);
  }
  return numbers;
}
