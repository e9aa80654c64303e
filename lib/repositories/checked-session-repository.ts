import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import {
  assertLogoutEventBegin,
  type OidcLogoutEventBegin,
} from '../logout-events/oidc-logout-event.store';
import type { ClaimCompletion, WholeLogout, WholeLogoutOutcome } from './joint-completion';
import {
  assertLogoutCriteria,
  EXISTS_NOW,
  OidcSessionRepository,
  type SyncExistence,
} from './oidc-session.repository';
import {
  describeKind,
  ignoreAnswer,
  isThenable,
  ownArguments,
  type Refusal,
  StoreBoundary,
  type StoreBoundaryOptions,
} from './store-boundary';

/** Options of {@link CheckedSessionRepository}. @internal */
export type CheckedSessionRepositoryOptions = StoreBoundaryOptions;

/**
 * The session repository as the library talks to it: whatever `OidcSessionRepository` the app
 * provides (the TypeORM one, the in-memory one, or its own for Redis, DynamoDB, ...) behind one
 * checkpoint. A repository the app writes is a trust boundary: this wrapper
 *
 * - **checks every answer** and fails closed. A lookup that answers anything but `undefined` or a
 *   well-formed, unexpired record of the very session id asked (`null` from
 *   `JSON.parse(await redis.get(key))`, a record of another id, dates as strings) counts as "no
 *   live session"; an existence check is live only for exactly `true`. An answer of a write that is
 *   not what the contract says (a removal that answers no array) counts as a store failure: the
 *   logout is kept pending, never taken as applied. Each kind of malformed answer is logged once,
 *   without ids.
 * - **bounds every call** with `timeoutMs` (see {@link StoreBoundary}). A synchronous `boolean`
 *   from the library's own in-memory store (its internal {@link EXISTS_NOW} hook) needs no timer.
 * - asks `findByClientSessionId` for existence when the repository does not override
 *   `existsByClientSessionId`, and expires records through the internal hook of the library's own
 *   stores (`expireEntries`; a custom store expires its own).
 *
 * @internal
 */
export class CheckedSessionRepository extends StoreBoundary<OidcSessionRepository> {
  /** How the repository tells existence: its internal fast path, its own method, or a lookup. */
  private readonly existence: 'now' | 'own' | 'find';
  private readonly lateSaveListeners = new Set<(info: OidcSessionInfo) => void>();

  constructor(raw: OidcSessionRepository, options: CheckedSessionRepositoryOptions) {
    super(
      raw,
      options,
      'session repository',
      'the session repository must answer as OidcSessionRepository documents (a record with Date fields, or undefined); the library fails closed meanwhile',
    );
    const exists = (raw as Partial<OidcSessionRepository>).existsByClientSessionId;
    this.existence = hasOwnFastPath(raw)
      ? 'now'
      : typeof exists === 'function' &&
          exists !== OidcSessionRepository.prototype.existsByClientSessionId
        ? 'own'
        : 'find';
  }

  /**
   * Saves a login record. A save that answers after `timeoutMs` (either way) was reported failed
   * but may have gone through: the listeners of {@link onLateSave} are told, to remove it.
   */
  save(info: OidcSessionInfo): Promise<void> {
    return this.call(
      'save',
      (r) => r.save(info),
      ignoreAnswer,
      () => {
        for (const listener of this.lateSaveListeners) listener(info);
      },
    );
  }

  /** Tells `listener` of every save that answered after it was reported failed (timed out). */
  onLateSave(listener: (info: OidcSessionInfo) => void): void {
    this.lateSaveListeners.add(listener);
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
   * when the store answers synchronously (the internal fast path of the in-memory store).
   */
  existsByClientSessionId(clientSessionId: string): boolean | Promise<boolean> {
    if (this.existence === 'find') {
      return this.findByClientSessionId(clientSessionId).then((info) => info !== undefined);
    }
    const method = 'existsByClientSessionId';
    // Read only when metrics are recorded: this is the guard's hot path.
    const startedAt = this.telemetryClock();
    let answer: unknown;
    try {
      answer =
        this.existence === 'now'
          ? (this.raw as unknown as SyncExistence)[EXISTS_NOW](clientSessionId)
          : this.raw.existsByClientSessionId(clientSessionId);
    } catch (error) {
      return Promise.reject(this.storeFailure(method, error));
    }
    // The guard's fast path: a synchronous answer, no timer, no promise.
    if (answer === true || answer === false) return answer;
    if (!isThenable(answer)) return this.isTrue(method, answer);
    // The time of an answer that is a promise (a synchronous one is the guard's own time).
    return this.observed(
      this.observing(method, startedAt),
      this.bounded(method, answer).then((value) => this.isTrue(method, value)),
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
  removeByLogoutToken(
    criteria: OidcLogoutCriteria,
    /** Run instead of the repository's own: the removal that also completes the logout's claim. */
    completing?: ClaimCompletion,
  ): Promise<OidcSessionInfo[]> {
    const refused = ownArguments(() => assertLogoutCriteria(criteria));
    if (refused) return refused;
    return this.call(
      'removeByLogoutToken',
      (r) =>
        completing
          ? completing.remove(criteria, completing.claimKey)
          : r.removeByLogoutToken(criteria),
      (answer) => this.removedRecords(answer, criteria),
    );
  }

  /**
   * Applies a logout whole through the stores' {@link WholeLogout} (its event and its removal
   * checked first, as `begin` and `removeByLogoutToken` check them): `'replay'`, or the records
   * removed, checked as `removeByLogoutToken` checks them.
   */
  applyWhole(
    whole: WholeLogout,
    event: OidcLogoutEventBegin,
    criteria: OidcLogoutCriteria,
  ): Promise<WholeLogoutOutcome> {
    const refused = ownArguments(() => {
      assertLogoutEventBegin(event);
      assertLogoutCriteria(criteria);
    });
    if (refused) return refused;
    return this.call(
      'removeByLogoutToken',
      () => whole(event, criteria),
      (answer) => (answer === 'replay' ? answer : this.removedRecords(answer, criteria)),
    );
  }

  /** The records a removal answered, when they are exactly records `criteria` names. */
  private removedRecords(answer: unknown, criteria: OidcLogoutCriteria): OidcSessionInfo[] {
    if (!Array.isArray(answer)) throw this.malformed('removeByLogoutToken', 'not an array');
    for (const record of answer as unknown[]) {
      const refusal = recordRefusal(record) ?? criteriaRefusal(record as OidcSessionInfo, criteria);
      if (refusal !== undefined) throw this.malformed('removeByLogoutToken', refusal);
    }
    return answer as OidcSessionInfo[];
  }

  /** `true` only for exactly `true`; anything but a boolean is logged (once) as malformed. */
  private isTrue(method: string, answer: unknown): boolean {
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

/**
 * Whether the store's existence check is the library's own, with its internal fast path: the class
 * that declares {@link EXISTS_NOW} must also declare the `existsByClientSessionId` in use. A
 * subclass that overrides `existsByClientSessionId` (a stricter check of the app's) is asked
 * through its override, never around it.
 */
function hasOwnFastPath(raw: OidcSessionRepository): boolean {
  if (typeof (raw as Partial<SyncExistence>)[EXISTS_NOW] !== 'function') return false;
  let proto: object | null = Object.getPrototypeOf(raw) as object | null;
  while (proto !== null && !Object.prototype.hasOwnProperty.call(proto, EXISTS_NOW)) {
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return (
    proto !== null &&
    Object.prototype.hasOwnProperty.call(proto, 'existsByClientSessionId') &&
    (proto as OidcSessionRepository).existsByClientSessionId === raw.existsByClientSessionId
  );
}
