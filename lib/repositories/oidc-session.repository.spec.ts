import { describe, expect, it } from 'vitest';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import { OidcSessionRepository } from './oidc-session.repository';

/** A user-supplied repository: the four abstract methods only. */
class MinimalRepository extends OidcSessionRepository {
  save(_info: OidcSessionInfo): Promise<void> {
    return Promise.resolve();
  }
  findByClientSessionId(_id: string): Promise<OidcSessionInfo | undefined> {
    return Promise.resolve(undefined);
  }
  removeByClientSessionId(_id: string): Promise<OidcSessionInfo | undefined> {
    return Promise.resolve(undefined);
  }
  removeByLogoutToken(_criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    return Promise.resolve([]);
  }
}

describe('OidcSessionRepository.existsByClientSessionId default', () => {
  class FindOnlyRepository extends MinimalRepository {
    readonly asked: string[] = [];
    constructor(private readonly find: (id: string) => Promise<OidcSessionInfo | undefined>) {
      super();
    }
    override findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
      this.asked.push(id);
      return this.find(id);
    }
  }

  const info = { clientSessionId: 'a' } as OidcSessionInfo;

  it('asks findByClientSessionId, and answers with a promise', async () => {
    const repository = new FindOnlyRepository((id) =>
      Promise.resolve(id === 'a' ? info : undefined),
    );
    const answer = repository.existsByClientSessionId('a');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(true);
    expect(await repository.existsByClientSessionId('b')).toBe(false);
    expect(repository.asked).toEqual(['a', 'b']);
  });

  it('rejects with the error findByClientSessionId rejects with (never false)', async () => {
    const failure = new Error('connection lost');
    const repository = new FindOnlyRepository(() => Promise.reject(failure));
    await expect(repository.existsByClientSessionId('a')).rejects.toBe(failure);
  });
});
