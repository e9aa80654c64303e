/**
 * Guard cost over HTTP: `GET /bench/guarded` (`@UseGuards(OidcSessionGuard)`) vs `GET /bench/plain`
 * (the same handler without the guard), both behind express-session (MemoryStore), in one Nest app
 * (Express), for the in-memory, SQLite and PostgreSQL repositories, and PostgreSQL with the
 * repository's `lookupCache` (the guard cache: a session found live is answered from memory for up to
 * its `ttlMs`, 5 s by default; without it every guarded request looks its session up).
 *
 * Requests carry the signed session cookies of SESSIONS_IN_USE (1,000) users whose sessions are in
 * the express-session store and recorded in the repository (spread over the whole table: 100,000
 * sessions in memory; the shared 1,000,000-session PostgreSQL and SQLite tables). The load
 * generator (another process) cycles through the cookies. A guarded request answered anything but
 * 200 would mean the guard did not find the session: the bench checks there was none.
 *
 * A third route, `GET /bench/noop`, behind a guard that only returns `true`, tells Nest's own cost of
 * running a guard from the library's; it also shows the noise floor, being as cheap as the plain
 * route (Nest's guard call is well under a microsecond of a ~200-microsecond request).
 *
 * The machine is shared and its load changes from second to second, so the three routes are
 * measured in many short runs (BENCH_GUARD_ROUNDS, 5, of BENCH_GUARD_DURATION_S / rounds each: 2 s; shorter runs inflate every route's CPU per request with their fixed start-up cost and flatter the ratio),
 * back to back in rounds whose order rotates, each run after a forced collection (no route pays
 * for the garbage of the one before), after a warm-up of each. Every figure is a ratio within a
 * round (adjacent runs see the same load), and the row reports the median over rounds, of
 * throughput and of the server's CPU time per request (the steadier of the two: it does not count
 * the time the load generator or another process held the core).
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
import {
  InMemoryOidcSessionRepository,
  OidcLogoutModule,
  OidcSessionGuard,
  type OidcLogoutModuleOptions,
} from '../lib';
import { listenOnLoopback } from '../test/fixtures/listen';
import { seedMemorySessions, sessionIdOf, type SeedRow } from './databases';
import { storeOptions, type BenchStore, type StoreKind } from './stores';
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

/** `postgres-cached`: PostgreSQL with the TypeORM repository's `lookupCache` (the guard cache). */
export type GuardRepositoryKind = 'memory' | StoreKind | 'postgres-cached';

/** The shared store a row's repository uses. */
function databaseOf(kind: Exclude<GuardRepositoryKind, 'memory'>): StoreKind {
  return kind === 'postgres-cached' ? 'postgres' : kind;
}

type Route = 'plain' | 'noop' | 'guarded';

export interface GuardRow {
  repository: GuardRepositoryKind;
  sessions: number;
  plain: RouteStats;
  guarded: RouteStats;
  /** The route behind a no-op guard. */
  noop: RouteStats;
  /** guarded / plain requests per second, all rounds merged. */
  ratio: number;
  /** The median of the rounds' ratios (each guarded run / the plain run of the same round). */
  medianRoundRatio: number;
  /** The same for the no-op guard: no-op / plain. */
  noopMedianRoundRatio: number;
  /** plain / guarded server CPU per request, medians over rounds: the steadier figure. */
  cpuRatio: number;
  /** plain / no-op server CPU per request, medians over rounds. */
  noopCpuRatio: number;
  /** Median over runs of the server's CPU time per request, microseconds. */
  cpuUsPerRequest: Record<Route, number>;
  /** Median over rounds of guarded - no-op server CPU per request: the library's own cost. */
  guardOverNoopCpuUs: number;
  /** Median over rounds of no-op - plain server CPU per request: Nest's cost of a guard. */
  noopOverPlainCpuUs: number;
  roundRatios: number[];
  noopRoundRatios: number[];
  verified: boolean;
  problems: string[];
  loadAverage: number;
}

export interface GuardBenchInput {
  load: LoadGenerator;
  workDir: string;
  seed: SeedRow;
  /** The shared stores, seeded with `seededUpTo` sessions (`revoked` ones removed). */
  databases: ReadonlyMap<StoreKind, BenchStore>;
  revoked: ReadonlyMap<StoreKind, ReadonlySet<number>>;
}

const SESSIONS_IN_USE = 1000;
export const SESSION_SECRET = 'bench-session-secret';
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
export function sessionCookie(id: string): string {
  const signature = createHmac('sha256', SESSION_SECRET)
    .update(id)
    .digest('base64')
    .replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${id}.${signature}`)}`;
}

/** SESSIONS_IN_USE recorded session indices spread over `0 .. size - 1`, none revoked. */
export function sessionsInUse(size: number, revoked: ReadonlySet<number>): number[] {
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
    await seedMemorySessions(repository, seed, memorySessions);
    oidc.sessionRepository = repository;
  } else {
    Object.assign(oidc, storeOptions(input.databases.get(databaseOf(kind))!));
    if (kind === 'postgres-cached') oidc.typeOrmRepository = { lookupCache: true };
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
  const origin = await listenOnLoopback(app);
  return { app, origin };
}

/** A full collection when the process runs with `--expose-gc` (npm run bench does). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function runRow(kind: GuardRepositoryKind, input: GuardBenchInput): Promise<GuardRow> {
  const memorySessions = Math.floor(env('BENCH_GUARD_MEMORY_SESSIONS', 100_000));
  const durationMs = env('BENCH_GUARD_DURATION_S', 10) * 1000;
  const rounds = Math.floor(env('BENCH_GUARD_ROUNDS', 5));
  const warmupMs = env('BENCH_WARMUP_S', 2) * 1000;
  const connections = Math.floor(env('BENCH_CONNECTIONS', 16));
  const size =
    kind === 'memory' ? memorySessions : input.databases.get(databaseOf(kind))!.seededUpTo;
  const inUse = sessionsInUse(
    size,
    kind === 'memory' ? new Set() : (input.revoked.get(databaseOf(kind)) ?? new Set()),
  );
  const cookiesFile = join(input.workDir, `cookies-${kind}.txt`);
  writeFileSync(cookiesFile, `${inUse.map((i) => sessionCookie(sessionIdOf(i))).join('\n')}\n`);
  const { app, origin } = await startApp(kind, input, memorySessions, inUse);
  try {
    const all: { route: Route; result: LoadResult }[] = [];
    const measure = async (route: Route, ms: number): Promise<MeasuredRun> => {
      // The garbage of the run before is collected here, not during this one.
      collectGarbage();
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
    const routes: Route[] = ['plain', 'noop', 'guarded'];
    for (const route of routes) await measure(route, warmupMs);
    const runs: Record<Route, MeasuredRun[]> = { plain: [], noop: [], guarded: [] };
    for (let round = 0; round < rounds; round++) {
      // The order rotates from round to round: no route always follows the same one.
      for (let k = 0; k < routes.length; k++) {
        const route = routes[(round + k) % routes.length]!;
        runs[route].push(await measure(route, durationMs / rounds));
      }
    }
    const { plain, noop, guarded } = runs;
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
    const rps = (run: MeasuredRun) => mergeRuns([run]).requestsPerSecond;
    const cpuUs = (run: MeasuredRun) => mergeRuns([run]).serverCpuUsPerRequest;
    const roundRatios = guarded.map((run, i) => rps(run) / rps(plain[i]!));
    const noopRoundRatios = noop.map((run, i) => rps(run) / rps(plain[i]!));
    const cpuUsPerRequest: Record<Route, number> = {
      plain: median(plain.map(cpuUs)),
      noop: median(noop.map(cpuUs)),
      guarded: median(guarded.map(cpuUs)),
    };
    return {
      repository: kind,
      sessions: size,
      plain: plainStats,
      guarded: guardedStats,
      noop: mergeRuns(noop),
      ratio: guardedStats.requestsPerSecond / plainStats.requestsPerSecond,
      medianRoundRatio: median(roundRatios),
      noopMedianRoundRatio: median(noopRoundRatios),
      cpuRatio: cpuUsPerRequest.plain / cpuUsPerRequest.guarded,
      noopCpuRatio: cpuUsPerRequest.plain / cpuUsPerRequest.noop,
      cpuUsPerRequest,
      guardOverNoopCpuUs: median(guarded.map((run, i) => cpuUs(run) - cpuUs(noop[i]!))),
      noopOverPlainCpuUs: median(noop.map((run, i) => cpuUs(run) - cpuUs(plain[i]!))),
      roundRatios,
      noopRoundRatios,
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
    'postgres-cached',
    'redis',
  ]).filter((kind) => kind === 'memory' || input.databases.has(databaseOf(kind)));
  const rows: GuardRow[] = [];
  for (const kind of kinds) {
    const row = await runRow(kind, input);
    const cpu = row.cpuUsPerRequest;
    console.log(
      `guard ${kind} (${row.sessions} sessions): plain ${fixed(row.plain.requestsPerSecond)} req/s, no-op guard ${fixed(row.noop.requestsPerSecond)}, guarded ${fixed(row.guarded.requestsPerSecond)}; ` +
        `median of ${row.roundRatios.length} rounds: guarded/plain ${fixed(row.medianRoundRatio, 3)}, no-op/plain ${fixed(row.noopMedianRoundRatio, 3)} ` +
        `(guarded rounds ${fixed(Math.min(...row.roundRatios), 2)} to ${fixed(Math.max(...row.roundRatios), 2)}); ` +
        `server CPU µs/req plain ${fixed(cpu.plain, 1)}, no-op ${fixed(cpu.noop, 1)}, guarded ${fixed(cpu.guarded, 1)}: ` +
        `guarded - no-op ${fixed(row.guardOverNoopCpuUs, 1)} µs, no-op - plain ${fixed(row.noopOverPlainCpuUs, 1)} µs, CPU ratio ${fixed(row.cpuRatio, 3)}; ` +
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
  'postgres-cached': 'TypeORM PostgreSQL, lookupCache',
  redis: 'Redis (ioredis)',
};

export function guardTable(rows: readonly GuardRow[]): string {
  const spread = (values: readonly number[]) =>
    `${fixed(quantile(values, 0.25), 2)} to ${fixed(quantile(values, 0.75), 2)}`;
  return markdownTable(
    [
      'repository',
      'sessions',
      'req/s plain / no-op guard / guarded',
      'guarded / plain (median of rounds)',
      'middle half of rounds',
      'no-op / plain (median of rounds)',
      'server CPU µs/req plain / no-op / guarded (medians)',
      'CPU ratio plain / guarded',
      'guarded - no-op CPU µs/req',
      'no-op - plain CPU µs/req',
      'p50 / p99 ms (plain)',
      'p50 / p99 ms (guarded)',
      'non-2xx',
      'load avg',
    ],
    rows.map((r) => [
      REPOSITORY_NAMES[r.repository],
      String(r.sessions),
      `${fixed(r.plain.requestsPerSecond)} / ${fixed(r.noop.requestsPerSecond)} / ${fixed(r.guarded.requestsPerSecond)}`,
      fixed(r.medianRoundRatio, 3),
      spread(r.roundRatios),
      fixed(r.noopMedianRoundRatio, 3),
      `${fixed(r.cpuUsPerRequest.plain)} / ${fixed(r.cpuUsPerRequest.noop)} / ${fixed(r.cpuUsPerRequest.guarded)}`,
      fixed(r.cpuRatio, 3),
      fixed(r.guardOverNoopCpuUs, 1),
      fixed(r.noopOverPlainCpuUs, 1),
      `${fixed(r.plain.p50Ms, 2)} / ${fixed(r.plain.p99Ms, 2)}`,
      `${fixed(r.guarded.p50Ms, 2)} / ${fixed(r.guarded.p99Ms, 2)}`,
      `${r.plain.non2xx + r.plain.errors} / ${r.noop.non2xx + r.noop.errors} / ${r.guarded.non2xx + r.guarded.errors}`,
      String(r.loadAverage),
    ]),
  );
}

/** The value at `fraction` of the sorted values, linearly interpolated. */
function quantile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * fraction;
  const low = Math.floor(position);
  const high = Math.min(sorted.length - 1, low + 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}
