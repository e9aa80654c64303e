import { describe, expect, it } from 'vitest';
import { InMemoryOidcLogoutEventStore } from '../logout-events/in-memory-oidc-logout-event.store';
import { InMemoryOidcSessionRepository } from './in-memory-oidc-session.repository';
import { isInProcessStore } from './in-process-store';

describe('isInProcessStore', () => {
  it('the library in-memory stores are; a subclass of the app, a wrapper or another store is not', () => {
    expect(isInProcessStore(new InMemoryOidcSessionRepository())).toBe(true);
    expect(isInProcessStore(new InMemoryOidcLogoutEventStore())).toBe(true);
    class WriteThrough extends InMemoryOidcSessionRepository {}
    expect(isInProcessStore(new WriteThrough())).toBe(false);
    const inner = new InMemoryOidcSessionRepository();
    expect(isInProcessStore({ findByClientSessionId: inner.findByClientSessionId })).toBe(false);
    expect(isInProcessStore(Object.create(null) as object)).toBe(false);
  });
});
