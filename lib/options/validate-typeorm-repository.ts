import type { TypeOrmOidcSessionRepositoryOptions } from '../repositories/typeorm/typeorm-oidc-session-repository.options';
import { Problems, checkBoolean, checkKeys, describeValue, isPlainObject } from './option-checks';

const PATH = 'typeOrmRepository';
const LIMITS: Record<string, readonly string[]> = {
  batching: ['maxConcurrent', 'maxSize'],
  lookupCache: ['ttlMs', 'maxEntries'],
};

/**
 * Validates `typeOrmRepository` (the options of the default TypeORM repository) and returns a copy
 * of it (meaningful only when no problem was added), or `undefined` when absent.
 *
 * @internal
 */
export function validateTypeOrmRepository(
  problems: Problems,
  value: unknown,
  sessionRepositoryGiven: boolean,
): TypeOrmOidcSessionRepositoryOptions | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    problems.add(
      PATH,
      'must be a plain object',
      describeValue(value),
      'pass e.g. { batching: { maxConcurrent: 2 }, lookupCache: { ttlMs: 5000 } }, or omit it',
    );
    return undefined;
  }
  if (sessionRepositoryGiven) {
    problems.add(
      PATH,
      'is set together with sessionRepository, which it cannot configure',
      undefined,
      'pass these options to the TypeOrmOidcSessionRepository you build, or drop sessionRepository',
    );
  }
  checkKeys(problems, PATH, value, [
    'batching',
    'lookupCache',
    'notifyRemovals',
    'preparedStatements',
  ]);
  const result: TypeOrmOidcSessionRepositoryOptions = {};
  const batching = checkLimits(problems, 'batching', value.batching, false);
  if (batching !== undefined && batching !== true) result.batching = batching;
  const lookupCache = checkLimits(problems, 'lookupCache', value.lookupCache, true);
  if (lookupCache !== undefined) result.lookupCache = lookupCache;
  for (const key of ['notifyRemovals', 'preparedStatements'] as const) {
    if (value[key] !== undefined) {
      result[key] = checkBoolean(problems, `${PATH}.${key}`, value[key], false);
    }
  }
  return result;
}

/** `false` (batching) or a boolean (lookupCache), or an object of positive integer limits. */
function checkLimits(
  problems: Problems,
  key: 'batching' | 'lookupCache',
  value: unknown,
  booleanAllowed: boolean,
): Record<string, number> | boolean | undefined {
  if (value === undefined) return undefined;
  const path = `${PATH}.${key}`;
  const names = LIMITS[key] ?? [];
  if (value === false || (booleanAllowed && value === true)) return value;
  if (!isPlainObject(value)) {
    problems.add(
      path,
      `must be ${booleanAllowed ? 'a boolean' : 'false'} or an object of limits (${names.join(', ')})`,
      describeValue(value),
      `e.g. { ${names[0] ?? 'limit'}: 2 }`,
    );
    return undefined;
  }
  checkKeys(problems, path, value, names);
  const limits: Record<string, number> = {};
  for (const name of names) {
    const limit = value[name];
    if (limit === undefined) continue;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
      problems.add(
        `${path}.${name}`,
        'must be a positive integer',
        describeValue(limit),
        'use an integer of at least 1',
      );
      continue;
    }
    limits[name] = limit;
  }
  return limits;
}
