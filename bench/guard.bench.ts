/**
 * Guard cost over HTTP: `GET /bench/guarded` (`@UseGuards(OidcSessionGuard)`) vs `GET /bench/plain`
 * (the same handler without the guard), both behind express-session (MemoryStore), in one Nest app
 * (Express), for the in-memory, SQLite and PostgreSQL repositories. The library has no guard cache:
 * every guarded request looks its session up in the repository.
 *
 * Requests carry the signed session cookies of SESSIONS_IN_USE (1,000) users whose sessions are in
 * the express-session store and recorded in the repository (spread over the whole table: 100,000
 * sessions in memory; the shared 1,000,000-session PostgreSQL and SQLite tables). The load
 * generator (another process) cycles through the cookies; the routes alternate in rounds after a
 * warm-up of each (the order rotating from round to round). A guarded request answered anything but 200 would mean the guard did not find
 * the session: the bench checks there was none.
 *
 * In the in-memory row a third route, `GET /bench/noop` behind a guard that only returns `true`,
 * tells Nest's own cost of running a guard from the library's.
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Module,
  UseGuards,
  type CanActivate,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import session from 'express-session';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import {
  hashSessionId,
  InMemoryOidcSessionRepository,
  OidcLogoutModule,
  OidcSessionGuard,
  type OidcLogoutModuleOptions,
} from '../lib';
import { sessionIdOf, sidOf, subOf, type DatabaseKind, type SeedRow } from './databases';
import type { LoadGenerator, LoadResult } from './load-generator';
import {
  env,
  envList,
  fixed,
  loadAverage,
  markdownTable,
  mergeRuns,
  type MeasuredRun,
  type RouteStats,
} from './report';

export type GuardRepositoryKind = 'memory' | DatabaseKind;

type Route = 'plain' | 'noop' | 'guarded';

export interface GuardRow {
  repository: GuardRepositoryKind;
  sessions: number;
  plain: RouteStats;
  guarded: RouteStats;
  /** The route behind a no-op guard (in-memory row only). */
  noop?: RouteStats;
  /** guarded / plain requests per second, all rounds merged. */
  ratio: number;
  /** The median of the rounds' ratios (each guarded round / the plain round of the same round). */
  medianRoundRatio: number;
  /** plain / guarded server CPU per request: the steadier figure on a shared machine. */
  cpuRatio: number;
  roundRatios: number[];
  verified: boolean;
  problems: string[];
  loadAverage: number;
}

export interface GuardBenchInput {
  load: LoadGenerator;
  workDir: string;
  seed: SeedRow;
  /** The shared databases, seeded with `sessions` rows (`revoked` ones removed). */
  databases: ReadonlyMap<DatabaseKind, { dataSource: DataSource; sessions: number }>;
  revoked: ReadonlyMap<DatabaseKind, ReadonlySet<number>>;
}

const SESSIONS_IN_USE = 1000;
const SESSION_SECRET = 'bench-session-secret';
const PATHS: Record<Route, string> = {
  plain: '/bench/plain',
  noop: '/bench/noop',
  guarded: '/bench/guarded',
};

/** What any guard costs Nest: one that lets everything through. */
class NoopGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@Controller('bench')
class GuardBenchController {
  @Get('plain')
  plain(): { ok: true } {
    return { ok: true };
  }

  @Get('noop')
  @UseGuards(NoopGuard)
  noop(): { ok: true } {
    return { ok: true };
  }

  @Get('guarded')
  @UseGuards(OidcSessionGuard)
  guarded(): { ok: true } {
    return { ok: true };
  }
}

/** The cookie express-session sets for a session id: `s:` + id + `.` + HMAC-SHA256, URL-encoded. */
function sessionCookie(id: string): string {
  const signature = createHmac('sha256', SESSION_SECRET)
    .update(id)
    .digest('base64')
    .replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${id}.${signature}`)}`;
}

/** SESSIONS_IN_USE recorded session indices spread over `0 .. size - 1`, none revoked. */
function sessionsInUse(size: number, revoked: ReadonlySet<number>): number[] {
  const step = Math.max(1, Math.floor(size / SESSIONS_IN_USE));
  const picked: number[] = [];
  for (let i = step >> 1; picked.length < SESSIONS_IN_USE && i < size; i += step) {
    let j = i;
    while (revoked.has(j)) j++;
    picked.push(j);
  }
  return picked;
}

async function startApp(
  kind: GuardRepositoryKind,
  input: GuardBenchInput,
  memorySessions: number,
  inUse: readonly number[],
): Promise<{ app: INestApplication; origin: string }> {
  const { seed } = input;
  const oidc: OidcLogoutModuleOptions = {
    // Static JWKS URI: the guard verifies no token, nothing needs discovering.
    clients: [
      {
        registrationId: seed.registrationId,
        issuer: seed.issuer,
        clientId: seed.clientId,
        discovery: false,
        jwksUri: `${seed.issuer}/jwks`,
      },
    ],
  };
  if (kind === 'memory') {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: memorySessions });
    const createdAt = new Date(seed.createdAt);
    const expiresAt = new Date(seed.expiresAt);
    for (let i = 0; i < memorySessions; i++) {
      await repository.save({
        clientSessionId: hashSessionId(sessionIdOf(i)),
        registrationId: seed.registrationId,
        issuer: seed.issuer,
        clientId: seed.clientId,
        sid: sidOf(i),
        sub: subOf(i),
        idToken: seed.idToken,
        createdAt,
        expiresAt,
      });
    }
    oidc.sessionRepository = repository;
  } else {
    oidc.dataSource = input.databases.get(kind)!.dataSource;
  }

  @Module({ imports: [OidcLogoutModule.forRoot(oidc)], controllers: [GuardBenchController] })
  class GuardBenchModule {}

  const app = await NestFactory.create(GuardBenchModule as Type, { logger: ['error', 'warn'] });
  const store = new session.MemoryStore();
  const expires = new Date(seed.expiresAt);
  for (const i of inUse) {
    store.set(sessionIdOf(i), {
      cookie: { originalMaxAge: 24 * 3600 * 1000, expires, httpOnly: true, path: '/' },
    });
  }
  app.use(
    session({
      secret: SESSION_SECRET,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 24 * 3600 * 1000 },
    }),
  );
  await app.listen(0, '127.0.0.1');
  const origin = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, origin };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function runRow(kind: GuardRepositoryKind, input: GuardBenchInput): Promise<GuardRow> {
  const memorySessions = Math.floor(env('BENCH_GUARD_MEMORY_SESSIONS', 100_000));
  const durationMs = env('BENCH_GUARD_DURATION_S', 10) * 1000;
  const rounds = Math.floor(env('BENCH_GUARD_ROUNDS', 8));
  const warmupMs = env('BENCH_WARMUP_S', 2) * 1000;
  const connections = Math.floor(env('BENCH_CONNECTIONS', 16));
  const size = kind === 'memory' ? memorySessions : input.databases.get(kind)!.sessions;
  const inUse = sessionsInUse(
    size,
    kind === 'memory' ? new Set() : (input.revoked.get(kind) ?? new Set()),
  );
  const cookiesFile = join(input.workDir, `cookies-${kind}.txt`);
  writeFileSync(cookiesFile, `${inUse.map((i) => sessionCookie(sessionIdOf(i))).join('\n')}\n`);
  const { app, origin } = await startApp(kind, input, memorySessions, inUse);
  try {
    const all: { route: Route; result: LoadResult }[] = [];
    const measure = async (route: Route, ms: number): Promise<MeasuredRun> => {
      const cpuAtStart = process.cpuUsage();
      const result = await input.load.run({
        origin,
        method: 'GET',
        path: PATHS[route],
        cookiesFile,
        connections,
        durationMs: ms,
      });
      const cpu = process.cpuUsage(cpuAtStart);
      all.push({ route, result });
      return { result, serverCpuMs: (cpu.user + cpu.system) / 1000 };
    };
    const routes: Route[] = kind === 'memory' ? ['plain', 'noop', 'guarded'] : ['plain', 'guarded'];
    for (const route of routes) await measure(route, warmupMs);
    const runs: Record<Route, MeasuredRun[]> = { plain: [], noop: [], guarded: [] };
    for (let round = 0; round < rounds; round++) {
      // The order rotates from round to round: no route always follows the same one.
      for (let k = 0; k < routes.length; k++) {
        const route = routes[(round + k) % routes.length]!;
        runs[route].push(await measure(route, durationMs / rounds));
      }
    }
    const { plain, guarded } = runs;
    const problems: string[] = [];
    for (const { route, result } of all) {
      if (result.non2xx > 0 || result.errors > 0) {
        problems.push(
          `${route}: ${result.non2xx} non-2xx, ${result.errors} errors (statuses ${JSON.stringify(result.statuses)})`,
        );
      }
    }
    const plainStats = mergeRuns(plain);
    const guardedStats = mergeRuns(guarded);
    const roundRatios = guarded.map(
      (run, i) => mergeRuns([run]).requestsPerSecond / mergeRuns([plain[i]!]).requestsPerSecond,
    );
    return {
      repository: kind,
      sessions: size,
      plain: plainStats,
      guarded: guardedStats,
      ...(runs.noop.length > 0 ? { noop: mergeRuns(runs.noop) } : {}),
      ratio: guardedStats.requestsPerSecond / plainStats.requestsPerSecond,
      medianRoundRatio: median(roundRatios),
      cpuRatio: plainStats.serverCpuUsPerRequest / guardedStats.serverCpuUsPerRequest,
      roundRatios,
      verified: problems.length === 0,
      problems,
      loadAverage: loadAverage(),
    };
  } finally {
    await app.close();
  }
}

export async function runGuardBench(input: GuardBenchInput): Promise<GuardRow[]> {
  const kinds = envList<GuardRepositoryKind>('BENCH_GUARD_REPOSITORIES', [
    'memory',
    'sqlite',
    'postgres',
  ]).filter((kind) => kind === 'memory' || input.databases.has(kind));
  const rows: GuardRow[] = [];
  for (const kind of kinds) {
    const row = await runRow(kind, input);
    console.log(
      `guard ${kind} (${row.sessions} sessions): plain ${fixed(row.plain.requestsPerSecond)} req/s, guarded ${fixed(row.guarded.requestsPerSecond)} req/s, ` +
        (row.noop
          ? `no-op guard ${fixed(row.noop.requestsPerSecond)} req/s (${fixed(row.noop.serverCpuUsPerRequest)} µs/req), `
          : '') +
        `ratio ${fixed(row.ratio, 3)}, median of rounds ${fixed(row.medianRoundRatio, 3)} (rounds ${row.roundRatios.map((r) => fixed(r, 2)).join(', ')}); ` +
        `server CPU ${fixed(row.plain.serverCpuUsPerRequest)} / ${fixed(row.guarded.serverCpuUsPerRequest)} µs/req; ` +
        `load generator ${fixed(row.plain.clientCpuPercent)}% / ${fixed(row.guarded.clientCpuPercent)}% (load ${row.loadAverage})` +
        (row.verified ? '' : `; FAILED: ${row.problems.join('; ')}`),
    );
    rows.push(row);
  }
  return rows;
}

const REPOSITORY_NAMES: Record<GuardRepositoryKind, string> = {
  memory: 'in-memory',
  sqlite: 'TypeORM SQLite',
  postgres: 'TypeORM PostgreSQL',
};

export function guardTable(rows: readonly GuardRow[]): string {
  return markdownTable(
    [
      'repository',
      'sessions',
      'plain req/s (baseline)',
      'guarded req/s',
      'ratio',
      'median round ratio',
      'round ratios',
      'p50 / p99 ms (plain)',
      'p50 / p99 ms (guarded)',
      'server CPU µs/req (plain / guarded)',
      'CPU ratio',
      'no-op guard req/s, CPU µs/req',
      'non-2xx',
      'load avg',
    ],
    rows.map((r) => [
      REPOSITORY_NAMES[r.repository],
      String(r.sessions),
      fixed(r.plain.requestsPerSecond),
      fixed(r.guarded.requestsPerSecond),
      fixed(r.ratio, 3),
      fixed(r.medianRoundRatio, 3),
      r.roundRatios.map((x) => fixed(x, 2)).join(', '),
      `${fixed(r.plain.p50Ms, 2)} / ${fixed(r.plain.p99Ms, 2)}`,
      `${fixed(r.guarded.p50Ms, 2)} / ${fixed(r.guarded.p99Ms, 2)}`,
      `${fixed(r.plain.serverCpuUsPerRequest)} / ${fixed(r.guarded.serverCpuUsPerRequest)}`,
      fixed(r.cpuRatio, 3),
      r.noop ? `${fixed(r.noop.requestsPerSecond)}, ${fixed(r.noop.serverCpuUsPerRequest)}` : '-',
      `${r.plain.non2xx + r.plain.errors} / ${r.guarded.non2xx + r.guarded.errors}`,
      String(r.loadAverage),
    ]),
  );
}
