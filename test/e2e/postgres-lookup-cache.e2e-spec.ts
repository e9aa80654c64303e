import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OidcLogoutOptionsError } from '../../lib/errors/oidc-logout.error';
import { OidcLogoutModule } from '../../lib/oidc-logout.module';
import { EXISTS_NOW, OidcSessionRepository } from '../../lib/repositories/oidc-session.repository';
import type { OidcSessionInfo } from '../../lib/interfaces/oidc-session-info.interface';
import { TypeOrmOidcSessionRepository } from '../../lib/repositories/typeorm/typeorm-oidc-session.repository';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';

/**
 * `lookupCache` on PostgreSQL, with two repositories on two DataSources (two app instances sharing
 * the database): instance B remembers a live session; a logout at A must reach B through
 * LISTEN/NOTIFY, a lost feed must make B ask the database again, and nothing may be left behind.
 */
const ISS = 'https://op.example.com/realms/main';
const CLIENT = 'app-a';

const enabled = announceDatabase('postgres', 'PostgreSQL lookup cache e2e');

function session(id: string, sid: string): OidcSessionInfo {
  const now = Date.now();
  return {
    clientSessionId: id,
    registrationId: 'main',
    issuer: ISS,
    clientId: CLIENT,
    sid,
    sub: `user-of-${id}`,
    idToken: `id-token-of-${id}`,
    expiresAt: new Date(now + 3_600_000),
    createdAt: new Date(now),
  };
}

/** Whether B answered from memory: a `boolean` at once, rather than a promise. */
function answeredFromMemory(answer: boolean | Promise<boolean>): boolean {
  return typeof answer === 'boolean';
}

async function until(condition: () => Promise<boolean>, what: string, limitMs = 10_000) {
  const start = performance.now();
  while (!(await condition())) {
    if (performance.now() - start > limitMs)
      throw new Error(`still not ${what} after ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.skipIf(!enabled)('TypeOrmOidcSessionRepository lookupCache on PostgreSQL', () => {
  let first: DataSource;
  let second: DataSource;
  let instanceA: TypeOrmOidcSessionRepository;
  let instanceB: TypeOrmOidcSessionRepository;

  beforeEach(async () => {
    first = await createTestDataSource('postgres', { migrations: true });
    second = new DataSource(first.options); // initialized by instanceB.init()
    instanceA = new TypeOrmOidcSessionRepository(first, { notifyRemovals: true });
    instanceB = new TypeOrmOidcSessionRepository(second, { lookupCache: { ttlMs: 60_000 } });
    await instanceA.init();
    await instanceB.init();
  });

  afterEach(async () => {
    await instanceB.close();
    await instanceA.close();
    if (second.isInitialized) await second.destroy();
    await destroyTestDataSource(first);
  });

  /** The LISTEN connection(s) of this test's database, as PostgreSQL sees them. */
  async function listeners(): Promise<number[]> {
    const rows: { pid: number }[] = await first.query(
      "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN oidc_logout_sessions_removed%'",
    );
    return rows.map((row) => row.pid);
  }

  it('answers a live session from memory, and a logout at another instance reaches it (window measured)', async () => {
    const windows: number[] = [];
    for (let i = 0; i < 30; i++) {
      const info = session(`s${i}`, `sid-${i}`);
      await instanceA.save(info);
      expect(await instanceB[EXISTS_NOW](info.clientSessionId)).toBe(true);
      const cached = instanceB[EXISTS_NOW](info.clientSessionId);
      expect(answeredFromMemory(cached)).toBe(true);
      expect(cached).toBe(true);

      const removed = await instanceA.removeByLogoutToken({
        issuer: ISS,
        clientId: CLIENT,
        sid: info.sid,
      });
      expect(removed.map((r) => r.clientSessionId)).toEqual([info.clientSessionId]);
      const start = performance.now();
      await until(async () => !(await instanceB[EXISTS_NOW](info.clientSessionId)), 'refused at B');
      windows.push(performance.now() - start);
      // Gone for good: B asks the database again (a promise) and gets "absent".
      const after = instanceB[EXISTS_NOW](info.clientSessionId);
      expect(answeredFromMemory(after)).toBe(false);
      expect(await after).toBe(false);
    }
    windows.sort((a, b) => a - b);
    console.log(
      `[lookupCache] other-instance window over 30 logouts: median ${windows[15]!.toFixed(1)} ms, ` +
        `p90 ${windows[26]!.toFixed(1)} ms, max ${windows[29]!.toFixed(1)} ms`,
    );
  });

  it('a logout on the same instance is refused at once, before any notification', async () => {
    const info = session('local', 'sid-local');
    await instanceB.save(info);
    expect(await instanceB[EXISTS_NOW]('local')).toBe(true);
    expect(instanceB[EXISTS_NOW]('local')).toBe(true);
    await instanceB.removeByClientSessionId('local');
    const answer = instanceB[EXISTS_NOW]('local');
    expect(answeredFromMemory(answer)).toBe(false);
    expect(await answer).toBe(false);
  });

  it('while the feed is down nothing is answered from memory, so a logout elsewhere is seen at once; it reconnects', async () => {
    const info = session('feed', 'sid-feed');
    const other = session('other', 'sid-other');
    await instanceA.save(info);
    await instanceA.save(other);
    await instanceB[EXISTS_NOW]('feed');
    expect(instanceB[EXISTS_NOW]('feed')).toBe(true);

    const [pid] = await listeners();
    expect(pid).toBeDefined();
    await first.query('SELECT pg_terminate_backend($1)', [pid]);
    await until(async () => {
      const answer = instanceB[EXISTS_NOW]('feed');
      await answer;
      return !answeredFromMemory(answer);
    }, 'asking the database');
    // A logout at A that no notification could announce while B's feed was down.
    const withoutNotify = new TypeOrmOidcSessionRepository(first);
    await withoutNotify.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: 'sid-feed' });
    expect(await instanceB[EXISTS_NOW]('feed')).toBe(false);

    // Back: B listens again (a new backend) and remembers again.
    await until(async () => {
      await instanceB[EXISTS_NOW]('other');
      return answeredFromMemory(instanceB[EXISTS_NOW]('other'));
    }, 'answering from memory again');
    const now = await listeners();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(pid);
  });

  it('close() gives the listening connection back: none is left, the DataSource ends', async () => {
    expect(await listeners()).toHaveLength(1);
    await instanceB.close();
    await until(async () => (await listeners()).length === 0, 'closed');
    const answer = instanceB[EXISTS_NOW]('anything');
    expect(answeredFromMemory(answer)).toBe(false);
    await expect(answer).resolves.toBe(false);
  });

  it('through the module (typeOrmRepository option): the repository caches, and closing the app gives its connection back', async () => {
    @Module({
      imports: [
        OidcLogoutModule.forRoot({
          clients: [
            {
              registrationId: 'main',
              issuer: ISS,
              clientId: CLIENT,
              discovery: false,
              jwksUri: `${ISS}/jwks`,
            },
          ],
          dataSource: first,
          typeOrmRepository: { lookupCache: { ttlMs: 60_000 } },
        }),
      ],
    })
    class CachingModule {}
    const app = await NestFactory.createApplicationContext(CachingModule, { logger: false });
    let closed = false;
    try {
      const repository = app.get<OidcSessionRepository, TypeOrmOidcSessionRepository>(
        OidcSessionRepository,
      );
      expect(repository).toBeInstanceOf(TypeOrmOidcSessionRepository);
      expect(await listeners()).toHaveLength(2); // B's, and the module's
      await instanceA.save(session('module', 'sid-module'));
      expect(await repository[EXISTS_NOW]('module')).toBe(true);
      expect(repository[EXISTS_NOW]('module')).toBe(true);
      await app.close();
      closed = true;
      await until(async () => (await listeners()).length === 1, 'closed');
      expect(first.isInitialized).toBe(true); // the app's DataSource is the app's to destroy
    } finally {
      if (!closed) await app.close();
    }
  });

  it('refuses lookupCache and notifyRemovals on a database without LISTEN/NOTIFY', async () => {
    const sqlite = await createTestDataSource('sqlite');
    try {
      for (const options of [{ lookupCache: true }, { notifyRemovals: true }]) {
        expect(() => new TypeOrmOidcSessionRepository(sqlite, options)).toThrow(
          OidcLogoutOptionsError,
        );
      }
    } finally {
      await destroyTestDataSource(sqlite);
    }
  });
});
