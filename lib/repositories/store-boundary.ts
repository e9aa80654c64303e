import { Logger } from '@nestjs/common';
import { OidcLogoutError, OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import { errorType } from '../errors/error-type';
import type { OidcTelemetry } from '../telemetry/oidc-telemetry';
import { SPAN } from '../telemetry/telemetry-names';
import { isInProcessStore } from './in-process-store';
import {
  assertValidDate,
  EXPIRE_ENTRIES,
  isExpiringStore,
} from '../logout-events/oidc-logout-event.store';

/** Why an answer is refused: a short phrase, never a value (it could be an id). @internal */
export type Refusal = string;

/** Options of a checked store. @internal */
export interface StoreBoundaryOptions {
  /** Longest wait for any one answer of the store, in milliseconds (`storeTimeoutMs`). */
  timeoutMs: number;
  /** The clock that decides whether a record has expired (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** Where each call's duration (and, under a traced request, its span) is recorded. */
  telemetry?: OidcTelemetry;
}

/**
 * What the checked session repository and the checked logout-event store share: every call of the
 * app's store bounded by `timeoutMs` (a store that never answers is a store that failed,
 * `ERR_REPOSITORY_UNAVAILABLE`), every failure reported as an `OidcSessionRepositoryError`, and each
 * kind of malformed answer logged once, without ids.
 *
 * @internal
 */
export abstract class StoreBoundary<S extends object> {
  protected readonly logger = new Logger('OidcLogout');
  protected readonly timeoutMs: number;
  protected readonly now: () => number;
  /** The kinds of malformed answer logged already (each once). */
  private readonly reported = new Set<string>();
  /** Methods whose last call timed out (logged once until one answers in time again). */
  private readonly timedOut = new Set<string>();
  private readonly telemetry: OidcTelemetry | undefined;
  /** The store as metrics name it. */
  private readonly storeKind: 'sessions' | 'logout_events';
  /** Whether its calls get spans: not the library's in-memory stores' (see `IN_PROCESS_STORE`). */
  private readonly traced: boolean;

  constructor(
    /** The app's store, as provided. */
    readonly raw: S,
    options: StoreBoundaryOptions,
    /** How the logs and errors name the store ("session repository", "logout-event store"). */
    private readonly storeName: string,
    /** What the malformed-answer log line tells the app to fix. */
    private readonly fix: string,
  ) {
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
    this.telemetry = options.telemetry;
    this.storeKind = storeName === 'session repository' ? 'sessions' : 'logout_events';
    this.traced = !isInProcessStore(raw);
  }

  /**
   * Deletes the expired entries of the library's own stores (their internal `EXPIRE_ENTRIES`
   * hook), bounded and checked; resolves how many. A custom store expires its own entries: 0
   * without asking it.
   */
  expireEntries(now: Date): Promise<number> {
    const refused = ownArguments(() => assertValidDate(now, 'now'));
    if (refused) return refused;
    const store = this.raw;
    if (!isExpiringStore(store)) return Promise.resolve(0);
    return this.call(
      'expireEntries',
      () => store[EXPIRE_ENTRIES](now),
      (answer) => {
        if (typeof answer !== 'number' || !Number.isSafeInteger(answer) || answer < 0) {
          throw this.malformed('expireEntries', 'not a count');
        }
        return answer;
      },
    );
  }

  /**
   * Calls `invoke` on the store, bounded by the timeout, and passes its answer through `check`. A
   * synchronous throw, a rejection, a timeout and a `check` that throws all reject with an
   * `OidcSessionRepositoryError` (an `OidcLogoutError` thrown by the store is kept as is). `late`
   * runs if the store answers after the timeout rejected (a write reported failed that may have
   * gone through).
   */
  protected call<T>(
    method: string,
    invoke: (store: S) => unknown,
    check: (answer: unknown) => T,
    late?: () => void,
  ): Promise<T> {
    const observing = this.observing(method);
    let answer: unknown;
    try {
      answer = invoke(this.raw);
    } catch (error) {
      return this.observed(observing, Promise.reject(this.storeFailure(method, error)));
    }
    const settled = isThenable(answer)
      ? this.bounded(method, answer, late)
      : Promise.resolve(answer);
    return this.observed(observing, settled.then(check));
  }

  /**
   * What recording a call of `method` needs (its start, its span), or `undefined` when nothing is
   * recorded (no metrics SDK, no traced request): then the call costs nothing more.
   */
  protected observing(method: string, startedAt?: number): StoreCallObservation | undefined {
    const telemetry = this.telemetry;
    if (!telemetry) return undefined;
    const span = this.traced
      ? telemetry.childSpan(SPAN.store, () => ({
          'oidc_logout.store': this.storeKind,
          'oidc_logout.store.operation': method,
        }))
      : undefined;
    if (!span && !telemetry.metricsOn) return undefined;
    return { telemetry, method, span, startedAt: startedAt ?? telemetry.now() };
  }

  /** The start of a call for its duration: 0 (unread) unless metrics are recorded. */
  protected telemetryClock(): number {
    return this.telemetry?.now() ?? 0;
  }

  /** `promise`, its end recorded as `observing` says (as it is when there is nothing to record). */
  protected observed<T>(
    observing: StoreCallObservation | undefined,
    promise: Promise<T>,
  ): Promise<T> {
    if (!observing) return promise;
    const { telemetry, method, span, startedAt } = observing;
    return promise.then(
      (value) => {
        telemetry.storeOperation(this.storeKind, method, startedAt);
        telemetry.endChildSpan(span);
        return value;
      },
      (error: unknown) => {
        const type = errorType(error);
        telemetry.storeOperation(this.storeKind, method, startedAt, type);
        telemetry.endChildSpan(span, type);
        throw error;
      },
    );
  }

  /**
   * The answer of `promise`, or a store failure after `timeoutMs`; `late` runs when `promise`
   * settles after that (fulfilled, or rejected: a write may have committed all the same).
   */
  protected bounded(
    method: string,
    promise: PromiseLike<unknown>,
    late?: () => void,
  ): Promise<unknown> {
    let timedOut = false;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        if (!this.timedOut.has(method)) {
          this.timedOut.add(method);
          this.logger.error({ event: 'oidc_store_timeout', method, timeoutMs: this.timeoutMs });
        }
        reject(
          new OidcSessionRepositoryError(
            `The ${this.storeName} did not answer ${method} within ${this.timeoutMs} ms (storeTimeoutMs)`,
          ),
        );
      }, this.timeoutMs);
      timer.unref?.();
      promise.then(
        (value) => {
          clearTimeout(timer);
          this.timedOut.delete(method);
          if (timedOut) late?.();
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          this.timedOut.delete(method);
          // A late failure is as ambiguous as a late success: the write may have committed.
          if (timedOut) late?.();
          reject(this.storeFailure(method, error));
        },
      );
    });
  }

  /** A malformed answer of a write: logged once, and a store failure. */
  protected malformed(method: string, refusal: Refusal): OidcSessionRepositoryError {
    this.report(method, refusal);
    return new OidcSessionRepositoryError(
      `The ${this.storeName} answered ${method} with ${refusal}: counted as a store failure`,
    );
  }

  /** Logs a kind of malformed answer, once. */
  protected report(method: string, refusal: Refusal): void {
    const key = `${method}\u0000${refusal}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.logger.error({
      event: 'oidc_store_malformed_answer',
      method,
      answer: refusal,
      repository: this.raw.constructor.name,
      fix: this.fix,
    });
  }

  /** The store's error as the library reports it (an `OidcLogoutError` is kept as is). */
  protected storeFailure(method: string, error: unknown): OidcLogoutError {
    if (error instanceof OidcLogoutError) return error;
    return new OidcSessionRepositoryError(`The ${this.storeName} failed (${method})`, {
      cause: error,
    });
  }
}

/** A store call being recorded (see `StoreBoundary.observing`). @internal */
export interface StoreCallObservation {
  telemetry: OidcTelemetry;
  method: string;
  span: ReturnType<OidcTelemetry['childSpan']>;
  startedAt: number;
}

/**
 * The library's own arguments, checked on its side of the boundary before the store is called: a
 * value the contract forbids is the library's error (a `TypeError`, rejected as is), never the
 * store's, so that it is not taken for an outage and kept for a retry that can never succeed.
 * Whatever the store itself throws is a store failure, whatever its class (`fetch` reports a
 * network failure as a `TypeError`).
 *
 * @internal
 */
export function ownArguments(check: () => void): Promise<never> | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
  }
}

/** Whether `value` is a promise-like. @internal */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** What a value is, for a log line: its kind, never its content. @internal */
export function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}

/** The answer of a write that answers nothing. @internal */
export const ignoreAnswer = (): void => undefined;
