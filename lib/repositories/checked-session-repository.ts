import { Logger } from '@nestjs/common';
import { OidcLogoutError, OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import {
  assertEpochSeconds,
  assertLogoutCriteria,
  assertLogoutEventKey,
  assertValidDate,
  OidcSessionRepository,
} from './oidc-session.repository';

/** Options of {@link CheckedSessionRepository}. @internal */
export interface CheckedSessionRepositoryOptions {
  /** Longest wait for any one answer of the store, in milliseconds (`storeTimeoutMs`). */
  timeoutMs: number;
  /** The clock that decides whether a record has expired (epoch ms). Default `Date.now`. */
  now?: () => number;
}

/** The methods the library calls, by name (for the log lines and the defaults). */
type RepositoryMethod = {
  [K in keyof OidcSessionRepository]: OidcSessionRepository[K] extends (...args: never[]) => unknown
    ? K
    : never;
}[keyof OidcSessionRepository];

/** Why an answer is refused: a short phrase, never a value (it could be an id). */
type Refusal = string;

/**
 * The session repository as the library talks to it: whatever `OidcSessionRepository` the app
 * provides (the TypeORM one, the in-memory one, or its own for Redis, DynamoDB, ...) behind one
 * checkpoint. A repository the app writes is a trust boundary: this wrapper
 *
 * - **checks every answer** and fails closed. A lookup that answers anything but `undefined` or a
 *   well-formed, unexpired record of the very session id asked (`null` from
 *   `JSON.parse(await redis.get(key))`, a record of another id, dates as strings) counts as "no
 *   live session"; an existence check is live only for exactly `true`. An answer of a write that is
 *   not what the contract says (a removal that answers no array, a claim that answers no boolean)
 *   counts as a store failure: the logout is kept pending, never taken as applied. Each kind of
 *   malformed answer is logged once, without ids.
 * - **bounds every call** with `timeoutMs`: a store that never answers is a store that failed
 *   (`ERR_REPOSITORY_UNAVAILABLE`): the guard answers 503 and a back-channel logout is kept. A
 *   synchronous `boolean` from `existsByClientSessionId` (the in-memory store) needs no timer.
 * - calls the contract's default implementation for an optional method that a repository object
 *   which does not extend `OidcSessionRepository` lacks.
 *
 * Adding a method of the contract is one line of {@link CheckedSessionRepository.call} with the
 * check of its answer.
 *
 * @internal
 */
export class CheckedSessionRepository {
  private readonly logger = new Logger('OidcLogout');
  private readonly timeoutMs: number;
  private readonly now: () => number;
  /** The kinds of malformed answer logged already (each once). */
  private readonly reported = new Set<string>();
  /** Methods whose last call timed out (logged once until one answers in time again). */
  private readonly timedOut = new Set<RepositoryMethod>();
  /** Whether the repository tells existence itself (else the checked record lookup does). */
  private readonly ownExists: boolean;

  constructor(
    /** The app's repository, as provided. */
    readonly raw: OidcSessionRepository,
    options: CheckedSessionRepositoryOptions,
  ) {
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
    const exists = (raw as Partial<OidcSessionRepository>).existsByClientSessionId;
    this.ownExists =
      typeof exists === 'function' &&
      exists !== OidcSessionRepository.prototype.existsByClientSessionId;
  }

  save(info: OidcSessionInfo): Promise<void> {
    return this.call('save', (r) => r.save(info), ignoreAnswer);
  }

  /** The live record of a hashed session id; `undefined` for anything else the store answers. */
  findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.call(
      'findByClientSessionId',
      (r) => r.findByClientSessionId(clientSessionId),
      (answer) => this.liveRecord(answer, clientSessionId),
    );
  }

  /**
   * Whether a live record exists: exactly `true` from the store, or (when the repository does not
   * tell existence itself) a record that {@link findByClientSessionId} accepts. A `boolean` at once
   * when the store answers synchronously.
   */
  existsByClientSessionId(clientSessionId: string): boolean | Promise<boolean> {
    if (!this.ownExists) {
      return this.findByClientSessionId(clientSessionId).then((info) => info !== undefined);
    }
    let answer: unknown;
    try {
      answer = this.raw.existsByClientSessionId(clientSessionId);
    } catch (error) {
      return Promise.reject(storeFailure('existsByClientSessionId', error));
    }
    // The guard's fast path: a synchronous answer, no timer, no promise.
    if (answer === true || answer === false) return answer;
    if (!isThenable(answer)) return this.isTrue('existsByClientSessionId', answer);
    return this.bounded('existsByClientSessionId', answer).then((value) =>
      this.isTrue('existsByClientSessionId', value),
    );
  }

  /** Removes a session id's record; answers it, or `undefined` (`null` counts as none). */
  removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.call(
      'removeByClientSessionId',
      (r) => r.removeByClientSessionId(clientSessionId),
      (answer) => {
        if (answer === undefined || answer === null) return undefined;
        const refusal = recordRefusal(answer, clientSessionId);
        if (refusal !== undefined) throw this.malformed('removeByClientSessionId', refusal);
        return answer as OidcSessionInfo;
      },
    );
  }

  /** Removes the records a logout names; an answer that is not exactly those is a store failure. */
  removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    const refused = ownArguments(() => assertLogoutCriteria(criteria));
    if (refused) return refused;
    return this.call(
      'removeByLogoutToken',
      (r) => r.removeByLogoutToken(criteria),
      (answer) => {
        if (!Array.isArray(answer)) throw this.malformed('removeByLogoutToken', 'not an array');
        for (const record of answer as unknown[]) {
          const refusal =
            recordRefusal(record) ?? criteriaRefusal(record as OidcSessionInfo, criteria);
          if (refusal !== undefined) throw this.malformed('removeByLogoutToken', refusal);
        }
        return answer as OidcSessionInfo[];
      },
    );
  }

  removeExpired(now: Date): Promise<number> {
    const refused = ownArguments(() => assertValidDate(now, 'now'));
    if (refused) return refused;
    return this.call(
      'removeExpired',
      (r) => r.removeExpired(now),
      (answer) => {
        if (typeof answer !== 'number' || !Number.isSafeInteger(answer) || answer < 0) {
          throw this.malformed('removeExpired', 'not a count');
        }
        return answer;
      },
    );
  }

  /** Claims a logout event: `false` only for a claim already applied (a replay). */
  claimLogoutEvent(key: string, expiresAt: Date): Promise<boolean> {
    const refused = ownArguments(() => {
      assertLogoutEventKey(key);
      assertValidDate(expiresAt, 'expiresAt');
    });
    if (refused) return refused;
    return this.call(
      'claimLogoutEvent',
      (r) => r.claimLogoutEvent(key, expiresAt),
      (answer) => {
        if (typeof answer !== 'boolean') throw this.malformed('claimLogoutEvent', 'not a boolean');
        return answer;
      },
    );
  }

  /**
   * Marks a claim applied. A claim left claimed (the wait timed out, the store failed) is applied
   * again by the retry or the OP's next delivery: nothing to give back.
   */
  completeLogoutEvent(key: string): Promise<void> {
    const refused = ownArguments(() => assertLogoutEventKey(key));
    if (refused) return refused;
    return this.call('completeLogoutEvent', (r) => r.completeLogoutEvent(key), ignoreAnswer);
  }

  saveLogoutTombstone(key: string, issuedAt: number, expiresAt: Date): Promise<void> {
    const refused = ownArguments(() => {
      assertLogoutEventKey(key);
      assertEpochSeconds(issuedAt);
      assertValidDate(expiresAt, 'expiresAt');
    });
    if (refused) return refused;
    return this.call(
      'saveLogoutTombstone',
      (r) => r.saveLogoutTombstone(key, issuedAt, expiresAt),
      ignoreAnswer,
    );
  }

  findLogoutTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    const refused = ownArguments(() => keys.forEach((key) => assertLogoutEventKey(key)));
    if (refused) return refused;
    return this.call(
      'findLogoutTombstones',
      (r) => r.findLogoutTombstones(keys),
      (answer) => {
        if (!(answer instanceof Map)) throw this.malformed('findLogoutTombstones', 'not a Map');
        for (const [key, issuedAt] of answer as Map<unknown, unknown>) {
          if (typeof key !== 'string' || !keys.includes(key)) {
            throw this.malformed('findLogoutTombstones', 'a key that was not asked');
          }
          if (typeof issuedAt !== 'number' || !Number.isFinite(issuedAt)) {
            throw this.malformed('findLogoutTombstones', 'an issuedAt that is not a number');
          }
        }
        return answer as Map<string, number>;
      },
    );
  }

  /**
   * Calls `method` of the repository (or the contract's default when a repository object lacks an
   * optional one), bounded by the timeout, and passes its answer through `check`. A synchronous
   * throw, a rejection, a timeout and a `check` that throws all reject with an
   * `OidcSessionRepositoryError` (an `OidcLogoutError` thrown by the store is kept as is).
   */
  private call<T>(
    method: RepositoryMethod,
    invoke: (repository: OidcSessionRepository) => unknown,
    check: (answer: unknown) => T,
  ): Promise<T> {
    let answer: unknown;
    try {
      answer = invoke(this.target(method));
    } catch (error) {
      return Promise.reject(storeFailure(method, error));
    }
    const settled = isThenable(answer) ? this.bounded(method, answer) : Promise.resolve(answer);
    return settled.then(check);
  }

  /** The repository, or the contract's defaults for an optional method it does not have. */
  private target(method: RepositoryMethod): OidcSessionRepository {
    if (typeof (this.raw as Partial<OidcSessionRepository>)[method] === 'function') return this.raw;
    return withDefaults(this.raw);
  }

  /** The answer of `promise`, or a store failure after `timeoutMs`. */
  private bounded(method: RepositoryMethod, promise: PromiseLike<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.timedOut.has(method)) {
          this.timedOut.add(method);
          this.logger.error({
            event: 'oidc_store_timeout',
            method,
            timeoutMs: this.timeoutMs,
          });
        }
        reject(
          new OidcSessionRepositoryError(
            `The session repository did not answer ${method} within ${this.timeoutMs} ms (storeTimeoutMs)`,
          ),
        );
      }, this.timeoutMs);
      timer.unref?.();
      promise.then(
        (value) => {
          clearTimeout(timer);
          this.timedOut.delete(method);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          this.timedOut.delete(method);
          reject(storeFailure(method, error));
        },
      );
    });
  }

  /** `true` only for exactly `true`; anything but a boolean is logged (once) as malformed. */
  private isTrue(method: RepositoryMethod, answer: unknown): boolean {
    if (answer === true) return true;
    if (answer !== false) this.report(method, describeKind(answer));
    return false;
  }

  /** A record a lookup may pass on: well-formed, of `clientSessionId`, not expired. */
  private liveRecord(answer: unknown, clientSessionId: string): OidcSessionInfo | undefined {
    if (answer === undefined) return undefined;
    const refusal =
      recordRefusal(answer, clientSessionId) ??
      ((answer as OidcSessionInfo).expiresAt.getTime() <= this.now()
        ? 'an expired record'
        : undefined);
    if (refusal === undefined) return answer as OidcSessionInfo;
    this.report('findByClientSessionId', refusal);
    return undefined;
  }

  /** A malformed answer of a write: logged once, and a store failure. */
  private malformed(method: RepositoryMethod, refusal: Refusal): OidcSessionRepositoryError {
    this.report(method, refusal);
    return new OidcSessionRepositoryError(
      `The session repository answered ${method} with ${refusal}: counted as a store failure`,
    );
  }

  private report(method: RepositoryMethod, refusal: Refusal): void {
    const key = `${method}\u0000${refusal}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.logger.error({
      event: 'oidc_store_malformed_answer',
      method,
      answer: refusal,
      repository: this.raw.constructor.name,
      fix: 'the session repository must answer as OidcSessionRepository documents (a record with Date fields, or undefined); the library fails closed meanwhile',
    });
  }
}

const ignoreAnswer = (): void => undefined;

/**
 * The library's own arguments, checked on its side of the boundary before the store is called: a
 * value the contract forbids is the library's error (a `TypeError`, rejected as is), never the
 * store's, so that it is not taken for an outage and kept for a retry that can never succeed.
 * Whatever the store itself throws is a store failure, whatever its class (`fetch` reports a
 * network failure as a `TypeError`).
 */
function ownArguments(check: () => void): Promise<never> | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The store's error as the library reports it (an `OidcLogoutError` is kept as is). */
function storeFailure(method: RepositoryMethod, error: unknown): OidcLogoutError {
  if (error instanceof OidcLogoutError) return error;
  return new OidcSessionRepositoryError(`The session repository failed (${method})`, {
    cause: error,
  });
}

/** What a value is, for a log line: its kind, never its content. */
function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isValidDate = (value: unknown): value is Date =>
  value instanceof Date && Number.isFinite(value.getTime());

/**
 * Why `value` is not a well-formed {@link OidcSessionInfo} (of `clientSessionId` when given), or
 * `undefined` when it is one.
 */
export function recordRefusal(value: unknown, clientSessionId?: string): Refusal | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return describeKind(value);
  }
  const record = value as Record<string, unknown>;
  if (!isString(record.clientSessionId)) return 'a record without a clientSessionId string';
  if (clientSessionId !== undefined && record.clientSessionId !== clientSessionId) {
    return 'a record of another session id';
  }
  for (const field of ['registrationId', 'issuer', 'clientId', 'sub', 'idToken'] as const) {
    if (!isString(record[field])) return `a record whose ${field} is not a string`;
  }
  if (record.sid !== undefined && !isString(record.sid))
    return 'a record whose sid is not a string';
  if (!isValidDate(record.expiresAt)) return 'a record whose expiresAt is not a valid Date';
  if (!isValidDate(record.createdAt)) return 'a record whose createdAt is not a valid Date';
  return undefined;
}

/** Why a removed record is not one the logout's criteria name, or `undefined`. */
function criteriaRefusal(
  record: OidcSessionInfo,
  criteria: OidcLogoutCriteria,
): Refusal | undefined {
  const { issuer, clientId, sid, sub } = criteria;
  const named =
    record.issuer === issuer &&
    record.clientId === clientId &&
    (!sid || record.sid === sid) &&
    (!sub || record.sub === sub);
  return named ? undefined : 'a record the logout does not name';
}

/** The contract's default implementations, bound to a repository object that lacks them. */
const defaults = new WeakMap<object, OidcSessionRepository>();

function withDefaults(raw: OidcSessionRepository): OidcSessionRepository {
  let target = defaults.get(raw);
  if (!target) {
    // The defaults keep their per-process store keyed by `this`: one proxy object per repository.
    target = Object.create(OidcSessionRepository.prototype) as OidcSessionRepository;
    const methods = raw as unknown as Record<string, unknown>;
    for (const name of [
      'save',
      'findByClientSessionId',
      'removeByClientSessionId',
      'removeByLogoutToken',
    ]) {
      const method = methods[name];
      if (typeof method === 'function') {
        Object.defineProperty(target, name, { value: method.bind(raw) });
      }
    }
    defaults.set(raw, target);
  }
  return target;
}
