import { Logger } from '@nestjs/common';
import type { OidcRevocationEvent } from '../interfaces/oidc-revocation-event.interface';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import { isThenable } from '../repositories/store-boundary';
import type { OidcTelemetry } from '../telemetry/oidc-telemetry';
import { clearSidOf } from './session-sid';

/**
 * One revocation as the audit line and the metrics see it: no id, no `sid`, no `sub`; `named` says
 * what the logout named (`sid`, `sub`, both, or one `session` of the app). @internal
 */
export interface RevocationSummary {
  channel: OidcRevocationEvent['channel'];
  registrationId: string;
  sessions: number;
  named: 'sid' | 'sub' | 'sid_and_sub' | 'session';
}

/** A revocation listener: may be async; its failure is logged, never propagated. @publicApi */
export type OidcRevocationListener = (event: OidcRevocationEvent) => void | Promise<void>;

/**
 * How long a revocation waits for one listener: the answer of a logout (the OP's back-channel
 * request, the user's `POST /logout`) waits for its listeners, and must not wait without bound for
 * one that hangs (a call to a slow service without a timeout).
 *
 * @internal
 */
export const LISTENER_WAIT_MS = 2_000;

/**
 * The listeners of revocations: the `onRevocation` option and those added at run time. Each is
 * awaited in turn, for at most {@link LISTENER_WAIT_MS} (it is not stopped past that, just no
 * longer waited for); a failing one is logged (without ids) and the others still run.
 *
 * @internal
 */
export class RevocationListeners {
  private readonly logger = new Logger('OidcLogout');
  private readonly audit = new Logger('OidcLogoutAudit');
  private readonly listeners = new Set<OidcRevocationListener>();

  constructor(
    initial?: OidcRevocationListener,
    private readonly telemetry?: OidcTelemetry,
  ) {
    if (initial) this.listeners.add(initial);
  }

  /**
   * Records a revocation, whether or not anyone listens: one structured audit line (the data of
   * the `onRevocation` event without its ids) and the `oidc_logout.sessions.revoked` counter.
   */
  record(summary: RevocationSummary): void {
    this.audit.log({
      event: 'oidc_logout_revocation',
      channel: summary.channel,
      registrationId: summary.registrationId,
      sessions: summary.sessions,
      named: summary.named,
    });
    this.telemetry?.sessionsRevoked(summary.channel, summary.registrationId, summary.sessions);
  }

  /**
   * One session of the app ended by itself, not by an OP session (an RP-initiated logout, a
   * front-channel logout by the request's cookie whose login had no `sid`): recorded, and told to
   * the listeners. The event names the OP session in clear, as the other channels do (the record
   * keeps the sid's digest).
   */
  async sessionEnded(
    channel: OidcRevocationEvent['channel'],
    session: OidcSessionInfo,
  ): Promise<void> {
    this.record({ channel, registrationId: session.registrationId, sessions: 1, named: 'session' });
    const sid = clearSidOf(session);
    await this.emit({
      channel,
      registrationId: session.registrationId,
      issuer: session.issuer,
      clientId: session.clientId,
      ...(sid === undefined ? {} : { sid }),
      sub: session.sub,
      sessions: [session],
      revokeOfflineAccess: false,
    });
  }

  /** How many listeners there are: with none, a revocation needs no event at all. */
  get size(): number {
    return this.listeners.size;
  }

  /** Adds a listener; returns a function that removes it. */
  add(listener: OidcRevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async emit(event: OidcRevocationEvent): Promise<void> {
    for (const listener of this.listeners) {
      let answer: void | Promise<void>;
      try {
        answer = listener(event);
      } catch (error) {
        this.failed(event, error);
        continue;
      }
      if (isThenable(answer)) await this.bounded(event, answer);
    }
  }

  /** Waits for a listener's promise, at most {@link LISTENER_WAIT_MS}; logs a failure or a hang. */
  private bounded(event: OidcRevocationEvent, answer: PromiseLike<unknown>): Promise<void> {
    return new Promise((resolve) => {
      let waiting = true;
      const timer = setTimeout(() => {
        waiting = false;
        this.logger.error(
          `An onRevocation listener did not finish within ${LISTENER_WAIT_MS} ms for a ${event.channel} logout of registration "${event.registrationId}"; not waited for any longer`,
        );
        resolve();
      }, LISTENER_WAIT_MS);
      timer.unref?.();
      try {
        answer.then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          (error: unknown) => {
            clearTimeout(timer);
            // Logged even past the wait: it still failed.
            this.failed(event, error);
            if (waiting) resolve();
          },
        );
      } catch (error) {
        // A thenable whose then throws: a failed listener like any other.
        clearTimeout(timer);
        this.failed(event, error);
        resolve();
      }
    });
  }

  private failed(event: OidcRevocationEvent, error: unknown): void {
    const name = error instanceof Error ? error.name : typeof error;
    this.logger.error(
      `An onRevocation listener failed (${name}) for a ${event.channel} logout of registration "${event.registrationId}"`,
    );
  }
}
