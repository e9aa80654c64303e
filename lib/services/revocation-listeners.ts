import { Logger } from '@nestjs/common';
import type { OidcRevocationEvent } from '../interfaces/oidc-revocation-event.interface';

/** A revocation listener: may be async; its failure is logged, never propagated. @publicApi */
export type OidcRevocationListener = (event: OidcRevocationEvent) => void | Promise<void>;

/**
 * The listeners of revocations: the `onRevocation` option and those added at run time. Each is
 * awaited in turn; a failing one is logged (without ids) and the others still run.
 *
 * @internal
 */
export class RevocationListeners {
  private readonly logger = new Logger('OidcLogout');
  private readonly listeners = new Set<OidcRevocationListener>();

  constructor(initial?: OidcRevocationListener) {
    if (initial) this.listeners.add(initial);
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
      try {
        await listener(event);
      } catch (error) {
        const name = error instanceof Error ? error.name : typeof error;
        this.logger.error(
          `An onRevocation listener failed (${name}) for a ${event.channel} logout of registration "${event.registrationId}"`,
        );
      }
    }
  }
}
