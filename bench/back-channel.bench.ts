/**
 * Back-channel logout throughput with distinct valid logout tokens, as ratios to baselines measured
 * in the same run (a section of `npm run bench`; alone: `npm run bench:back-channel`):
 * - vs a bare route of the same app that only parses the same form body and verifies the token with
 *   jose against the same keys (`BASELINE_PATH`);
 * - in the rows on a shared store (PostgreSQL, Redis), also vs the floor (`FLOOR_PATH`): the bare
 *   route plus one round trip to that store (`SELECT 1`, `PING`), the least any logout shared between
 *   instances costs, whatever it writes;
 * - in the in-memory rows, also vs auth0's express-openid-connect (`backchannelLogout` with an
 *   express-session MemoryStore, its documented in-memory store) on a plain Express app in the same
 *   process, against the same OP (discovered from the fake OP), keys and issuer.
 *
 * Per row (repository x algorithm): a fresh Nest app (Express, OidcLogoutModule, the baseline
 * route) against the fake OP on 127.0.0.1. Sessions: SESSIONS (100,000) in memory and in a fresh
 * SQLite file, seeded in SQL; the shared PostgreSQL table and Redis store of 1,000,000 sessions
 * (BENCH_DB_SESSIONS; the sessions the tokens name restored first). The load generator (another process) posts pre-signed tokens, each
 * naming one recorded session (`sid`) and used once by the library; the routes alternate in rounds
 * (baseline[, floor], library[, express-openid-connect], the order rotating from round to round) after a
 * warm-up of each. Afterwards the bench checks that it measured real logouts: no failed request, as
 * many sessions removed as logouts answered, the sessions named gone (a sample) and the next ones
 * still there.
 *
 * Environment: BENCH_SESSIONS (100000), BENCH_TOKENS per algorithm (50000), BENCH_DURATION_S per
 * route and row (10, split over BENCH_ROUNDS alternations, 4), BENCH_WARMUP_S (2),
 * BENCH_CONNECTIONS (16), BENCH_ALGS (RS256,ES256), BENCH_REPOSITORIES
 * (sqlite,memory,postgres,redis), BENCH_ROUTES (baseline,floor,library,eoc; one alone to profile
 * it). Per route, the app's CPU per request and the share of the time its event loop was busy.
 *
 * SQLite runs as a server would run it: a file in the temp directory, WAL, `synchronous = NORMAL`
 * (with the default rollback journal every commit waits for an fsync: see docs/BENCHMARKS.md).
 */
import 'reflect-metadata';
import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Inject,
  Module,
  Post,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import { auth } from 'express-openid-connect';
import session from 'express-session';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { hashSessionId } from '../lib/repositories/session-id-hash';
import {
  InMemoryOidcLogoutEventStore,
  InMemoryOidcSessionRepository,
  OidcLogoutModule,
  OidcSessionRepository,
  type OidcLogoutModuleOptions,
} from '../lib';
import type { FakeOp } from '../test/fixtures/fake-op';
import { listenOnLoopback } from '../test/fixtures/listen';
import { signLogoutToken, nowSeconds } from '../test/fixtures/tokens';
import {
  clearLogoutEvents,
  countSessions,
  createBenchDataSource,
  dropBenchDataSource,
  seedMemorySessions,
  seedSessionsSql,
  sessionIdOf,
  sidOf,
  subOf,
  type SeedRow,
} from './databases';
import { clearRedisLogoutEvents } from './redis';
import { countStore, seedStore, storeOptions, type BenchStore, type StoreKind } from './stores';
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

type Alg = 'RS256' | 'ES256';
type RepositoryKind = 'sqlite' | 'memory' | 'postgres' | 'redis';
type Route = 'baseline' | 'floor' | 'library' | 'eoc';

const config = () => ({
  sessions: Math.floor(env('BENCH_SESSIONS', 100_000)),
  tokens: Math.floor(env('BENCH_TOKENS', 50_000)),
  durationMs: env('BENCH_DURATION_S', 10) * 1000,
  warmupMs: env('BENCH_WARMUP_S', 2) * 1000,
  rounds: Math.floor(env('BENCH_ROUNDS', 4)),
  connections: Math.floor(env('BENCH_CONNECTIONS', 16)),
  algs: envList<Alg>('BENCH_ALGS', ['RS256', 'ES256']),
  repositories: envList<RepositoryKind>('BENCH_REPOSITORIES', [
    'sqlite',
    'memory',
    'postgres',
    'redis',
  ]),
  /** Routes measured (profiling one route alone): all by default. */
  routes: envList<Route>('BENCH_ROUTES', ['baseline', 'floor', 'library', 'eoc']),
});
type Config = ReturnType<typeof config>;

const LIBRARY_PATH = '/logout/connect/back-channel/bench';
const BASELINE_PATH = '/bench/baseline';
const FLOOR_PATH = '/bench/floor';
const EOC_PATH = '/backchannel-logout';
const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };
/** Logout tokens live 120 s at real OPs; these must outlive signing plus every row. */
const TOKEN_LIFETIME_SECONDS = 1800;

/** The bare route's verification: what an app doing it by hand with jose would do. */
const BASELINE_VERIFIER = Symbol('BASELINE_VERIFIER');
interface BaselineVerifier {
  keys: JWTVerifyGetKey;
  options: JWTVerifyOptions;
  /** The floor route's one round trip to the row's shared store (none in the other rows). */
  roundTrip?: () => Promise<unknown>;
}

@Controller()
class BaselineController {
  constructor(@Inject(BASELINE_VERIFIER) private readonly verifier: BaselineVerifier) {}

  /** Parses the form (Express's urlencoded parser, as for the library) and verifies the token. */
  @Post(BASELINE_PATH.slice(1))
  @HttpCode(200)
  async logout(@Body() body: Record<string, unknown> | undefined): Promise<void> {
    const token = body?.logout_token;
    if (typeof token !== 'string') throw new BadRequestException('logout_token is missing');
    try {
      await jwtVerify(token, this.verifier.keys, this.verifier.options);
    } catch {
      throw new BadRequestException('invalid logout token');
    }
  }

  /** The same, then one round trip to the shared store: what no shared logout can do without. */
  @Post(FLOOR_PATH.slice(1))
  @HttpCode(200)
  async floor(@Body() body: Record<string, unknown> | undefined): Promise<void> {
    await this.logout(body);
    if (!this.verifier.roundTrip) throw new BadRequestException('no shared store in this row');
    await this.verifier.roundTrip();
  }
}

export interface BackChannelBenchInput {
  op: FakeOp;
  load: LoadGenerator;
  workDir: string;
  seed: SeedRow;
  /** The shared stores (PostgreSQL, Redis: 1,000,000 sessions). */
  databases: ReadonlyMap<StoreKind, BenchStore>;
}

interface BenchApp {
  origin: string;
  repository: OidcSessionRepository;
  /** express-openid-connect's app (in-memory rows only). */
  eoc?: { origin: string; storedEntries(): Promise<number> };
  /** Whether the app serves the floor route (rows on a shared store). */
  hasFloor: boolean;
  countSessions(): Promise<number>;
  close(): Promise<void>;
}

/** express-openid-connect on a plain Express app: its back-channel endpoint and MemoryStore. */
async function startEoc(
  op: FakeOp,
  alg: Alg,
  clientId: string,
): Promise<{ origin: string; storedEntries(): Promise<number>; close(): Promise<void> }> {
  const store = new session.MemoryStore();
  const app = express();
  app.use(
    auth({
      issuerBaseURL: op.issuer,
      baseURL: 'http://127.0.0.1:3000',
      clientID: clientId,
      secret: 'bench-secret-bench-secret-bench-secret',
      authRequired: false,
      idTokenSigningAlg: alg,
      // express-session's MemoryStore: the get/set/destroy store the option documents (its types
      // describe express-openid-connect's own stored sessions, not what it stores here).
      backchannelLogout: { store: store as never },
    }),
  );
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    storedEntries: () =>
      new Promise((resolve, reject) =>
        store.length((error, length) =>
          error
            ? reject(error instanceof Error ? error : new Error(String(error)))
            : resolve(length ?? 0),
        ),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One round trip to a shared store, doing nothing there: `PING` (Redis), `SELECT 1` (SQL). */
function roundTripTo(store: BenchStore): () => Promise<unknown> {
  if (store.kind === 'redis') {
    const { client } = store.redis;
    return () => client.ping();
  }
  const { dataSource } = store;
  return () => dataSource.query('SELECT 1');
}

async function startBenchApp(
  kind: RepositoryKind,
  alg: Alg,
  input: BackChannelBenchInput,
  cfg: Config,
): Promise<BenchApp> {
  const { op, seed } = input;
  let dataSource: DataSource | undefined;
  let shared: BenchStore | undefined;
  let ownDataSource = false;
  const oidc: OidcLogoutModuleOptions = {
    clients: [{ registrationId: seed.registrationId, issuer: op.issuer, clientId: seed.clientId }],
  };
  if (kind === 'sqlite') {
    dataSource = await createBenchDataSource('sqlite', input.workDir, `back-channel-${alg}`);
    ownDataSource = true;
    await seedSessionsSql(dataSource, seed, 0, cfg.sessions);
    oidc.dataSource = dataSource;
  } else if (kind === 'postgres' || kind === 'redis') {
    shared = input.databases.get(kind)!;
    // The sessions the tokens name may have been revoked by an earlier row or section.
    await seedStore(shared, seed, 0, cfg.tokens);
    if (shared.kind === 'redis') await clearRedisLogoutEvents(shared.redis);
    else await clearLogoutEvents(shared.dataSource);
    Object.assign(oidc, storeOptions(shared));
  } else {
    // Room for every session and every logout event of the run: no eviction.
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 4 * cfg.sessions });
    await seedMemorySessions(repository, seed, cfg.sessions);
    oidc.sessionRepository = repository;
    // A claim and a tombstone per token, kept for their lifetime: room for all of them.
    oidc.logoutEventStore = new InMemoryOidcLogoutEventStore({ maxEntries: 4 * cfg.tokens });
  }
  const verifier: BaselineVerifier = {
    keys: createRemoteJWKSet(new URL(op.jwksUri)),
    options: { algorithms: [alg], issuer: op.issuer, audience: seed.clientId },
  };
  if (shared) verifier.roundTrip = roundTripTo(shared);

  @Module({
    imports: [OidcLogoutModule.forRoot(oidc)],
    controllers: [BaselineController],
    providers: [{ provide: BASELINE_VERIFIER, useValue: verifier }],
  })
  class BenchModule {}

  const app: INestApplication = await NestFactory.create(BenchModule as Type, {
    logger: ['error', 'warn'],
  });
  const origin = await listenOnLoopback(app);
  const repository = app.get(OidcSessionRepository);
  const eoc = kind === 'memory' ? await startEoc(op, alg, seed.clientId) : undefined;
  return {
    origin,
    repository,
    ...(eoc ? { eoc } : {}),
    hasFloor: verifier.roundTrip !== undefined,
    async countSessions() {
      if (repository instanceof InMemoryOidcSessionRepository) return repository.size;
      return shared ? countStore(shared) : countSessions(dataSource!);
    },
    async close() {
      await eoc?.close();
      await app.close();
      if (ownDataSource && dataSource) await dropBenchDataSource(dataSource);
    },
  };
}

/**
 * Signs `count` distinct logout tokens (token i names session i by `sid`, with its `sub`) and writes
 * them as form bodies, one per line. WebCrypto signs on libuv's thread pool: batches keep both
 * cores busy.
 */
export async function writeTokenPool(
  op: FakeOp,
  clientId: string,
  alg: Alg,
  count: number,
  file: string,
): Promise<void> {
  const now = nowSeconds();
  const lines: string[] = new Array<string>(count);
  const batch = 256;
  for (let first = 0; first < count; first += batch) {
    const signed: Promise<void>[] = [];
    for (let i = first; i < Math.min(count, first + batch); i++) {
      signed.push(
        signLogoutToken(op.keys, {
          alg,
          issuer: op.issuer,
          clientId,
          sid: sidOf(i),
          sub: subOf(i),
          now,
          claims: { exp: now + TOKEN_LIFETIME_SECONDS },
        }).then((token) => {
          lines[i] = `logout_token=${token}`;
        }),
      );
    }
    await Promise.all(signed);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

export interface BackChannelRow {
  repository: RepositoryKind;
  alg: Alg;
  sessionsBefore: number;
  sessionsAfter: number;
  baseline: RouteStats;
  library: RouteStats;
  /** express-openid-connect (in-memory rows). */
  eoc?: RouteStats;
  /** The bare route plus one round trip to the shared store (PostgreSQL, Redis rows). */
  floor?: RouteStats;
  /** library / baseline requests per second. */
  ratio: number;
  /** floor / baseline: what one round trip to the store costs the bare route. */
  floorRatio?: number;
  /** library / floor. */
  libraryToFloor?: number;
  /** library / express-openid-connect requests per second. */
  eocRatio?: number;
  /** The ratio of each round (library / the baseline of the same round): their spread shows the noise. */
  roundRatios: number[];
  /** Library requests sent, warm-up included: one logout (and one token) each. */
  logouts: number;
  verified: boolean;
  problems: string[];
  setupSeconds: number;
  loadAverage: number;
}

async function runRow(
  kind: RepositoryKind,
  alg: Alg,
  input: BackChannelBenchInput,
  cfg: Config,
  tokensFile: string,
): Promise<BackChannelRow> {
  const setupStart = performance.now();
  const bench = await startBenchApp(kind, alg, input, cfg);
  try {
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const sessionsBefore = await bench.countSessions();
    const routes = cfg.routes.filter(
      (route) =>
        (route !== 'eoc' || bench.eoc !== undefined) && (route !== 'floor' || bench.hasFloor),
    );
    const cursors: Record<Route, number> = { baseline: 0, floor: 0, library: 0, eoc: 0 };
    const all: { route: Route; result: LoadResult }[] = [];
    const measure = async (route: Route, durationMs: number): Promise<MeasuredRun> => {
      const cpuAtStart = process.cpuUsage();
      const eventLoopAtStart = performance.eventLoopUtilization();
      const result = await input.load.run({
        origin: route === 'eoc' ? bench.eoc!.origin : bench.origin,
        method: 'POST',
        path: {
          baseline: BASELINE_PATH,
          floor: FLOOR_PATH,
          library: LIBRARY_PATH,
          eoc: EOC_PATH,
        }[route],
        headers: FORM_HEADERS,
        bodiesFile: tokensFile,
        start: cursors[route],
        // The library must never see a token twice; the others keep no replay state: they cycle.
        wrap: route !== 'library',
        connections: cfg.connections,
        durationMs,
      });
      const cpu = process.cpuUsage(cpuAtStart);
      cursors[route] = result.next;
      all.push({ route, result });
      return {
        result,
        serverCpuMs: (cpu.user + cpu.system) / 1000,
        eventLoopBusyMs: performance.eventLoopUtilization(eventLoopAtStart).active,
      };
    };

    for (const route of routes) await measure(route, cfg.warmupMs);
    const runs: Record<Route, MeasuredRun[]> = { baseline: [], floor: [], library: [], eoc: [] };
    for (let round = 0; round < cfg.rounds; round++) {
      // The order rotates from round to round: no route always follows the same one.
      for (let k = 0; k < routes.length; k++) {
        const route = routes[(round + k) % routes.length]!;
        runs[route].push(await measure(route, cfg.durationMs / cfg.rounds));
      }
    }

    // Did we measure real logouts? Every request answered 2xx, and exactly the sessions named by
    // the tokens the library received are gone (the others are still there).
    const problems: string[] = [];
    for (const { route, result } of all) {
      if (result.non2xx > 0 || result.errors > 0) {
        problems.push(
          `${route}: ${result.non2xx} non-2xx, ${result.errors} errors (statuses ${JSON.stringify(result.statuses)}, first failed token indices ${result.failedIndices.join(',')})`,
        );
      }
      if (result.exhausted) problems.push(`${route}: ran out of tokens; raise BENCH_TOKENS`);
    }
    const logouts = cursors.library;
    const libraryOk = all
      .filter((a) => a.route === 'library')
      .reduce((n, a) => n + a.result.ok2xx, 0);
    const sessionsAfter = await bench.countSessions();
    const removed = sessionsBefore - sessionsAfter;
    if (removed !== libraryOk || libraryOk !== logouts) {
      problems.push(
        `${logouts} tokens sent, ${libraryOk} answered 2xx, ${removed} sessions removed`,
      );
    }
    // A sample of the sessions named (all of them would take long on a database), and the next ones.
    let stillThere = 0;
    const step = Math.max(1, Math.floor(logouts / 1000));
    for (let i = 0; i < logouts; i += step) {
      if (await bench.repository.findByClientSessionId(hashSessionId(sessionIdOf(i)))) stillThere++;
    }
    if (stillThere > 0) problems.push(`${stillThere} logged-out sessions are still recorded`);
    let missing = 0;
    for (let i = logouts; i < Math.min(sessionsBefore, logouts + 1000); i++) {
      if (!(await bench.repository.findByClientSessionId(hashSessionId(sessionIdOf(i))))) missing++;
    }
    if (missing > 0) problems.push(`${missing} sessions no token named are gone`);
    if (bench.eoc) {
      // Two entries (sid and sub) per distinct token express-openid-connect received.
      const distinct = Math.min(cursors.eoc, cfg.tokens);
      const stored = await bench.eoc.storedEntries();
      if (stored !== 2 * distinct) {
        problems.push(`express-openid-connect stored ${stored} entries for ${distinct} tokens`);
      }
    }

    const baseline = mergeRuns(runs.baseline);
    const library = mergeRuns(runs.library);
    const eoc = runs.eoc.length > 0 ? mergeRuns(runs.eoc) : undefined;
    const floor = runs.floor.length > 0 ? mergeRuns(runs.floor) : undefined;
    return {
      repository: kind,
      alg,
      sessionsBefore,
      sessionsAfter,
      baseline,
      library,
      ...(eoc ? { eoc, eocRatio: library.requestsPerSecond / eoc.requestsPerSecond } : {}),
      ...(floor
        ? {
            floor,
            floorRatio: floor.requestsPerSecond / baseline.requestsPerSecond,
            libraryToFloor: library.requestsPerSecond / floor.requestsPerSecond,
          }
        : {}),
      ratio: library.requestsPerSecond / baseline.requestsPerSecond,
      roundRatios: runs.library.flatMap((run, i) => {
        const other = runs.baseline[i];
        return other === undefined
          ? []
          : [mergeRuns([run]).requestsPerSecond / mergeRuns([other]).requestsPerSecond];
      }),
      logouts,
      verified: problems.length === 0,
      problems,
      setupSeconds,
      loadAverage: loadAverage(),
    };
  } finally {
    await bench.close();
  }
}

const REPOSITORY_NAMES: Record<RepositoryKind, string> = {
  memory: 'in-memory',
  sqlite: 'TypeORM SQLite',
  postgres: 'TypeORM PostgreSQL',
  redis: 'Redis (ioredis)',
};

export function backChannelTable(rows: readonly BackChannelRow[]): string {
  return markdownTable(
    [
      'repository',
      'alg',
      'sessions',
      'baseline req/s',
      'library req/s',
      'ratio',
      'round ratios',
      'floor req/s (/ baseline)',
      'library / floor',
      'express-openid-connect req/s',
      'library / e-o-c',
      'p50 / p99 ms (baseline / library)',
      'server CPU µs/req (baseline / library / e-o-c)',
      'event loop busy % (baseline / library)',
      'non-2xx',
      'verified',
      'load avg',
    ],
    rows.map((r) => [
      REPOSITORY_NAMES[r.repository],
      r.alg,
      `${r.sessionsBefore} -> ${r.sessionsAfter}`,
      fixed(r.baseline.requestsPerSecond),
      fixed(r.library.requestsPerSecond),
      fixed(r.ratio, 2),
      r.roundRatios.map((x) => fixed(x, 2)).join(', '),
      r.floor ? `${fixed(r.floor.requestsPerSecond)} (${fixed(r.floorRatio!, 2)})` : '-',
      r.libraryToFloor === undefined ? '-' : fixed(r.libraryToFloor, 2),
      r.eoc ? fixed(r.eoc.requestsPerSecond) : '-',
      r.eocRatio === undefined ? '-' : fixed(r.eocRatio, 2),
      `${fixed(r.baseline.p50Ms, 1)}, ${fixed(r.baseline.p99Ms, 1)} / ${fixed(r.library.p50Ms, 1)}, ${fixed(r.library.p99Ms, 1)}`,
      `${fixed(r.baseline.serverCpuUsPerRequest)} / ${fixed(r.library.serverCpuUsPerRequest)}` +
        (r.eoc ? ` / ${fixed(r.eoc.serverCpuUsPerRequest)}` : ''),
      `${fixed(r.baseline.eventLoopBusyPercent)} / ${fixed(r.library.eventLoopBusyPercent)}`,
      `${r.baseline.non2xx + r.baseline.errors} / ${r.library.non2xx + r.library.errors}` +
        (r.eoc ? ` / ${r.eoc.non2xx + r.eoc.errors}` : ''),
      r.verified ? 'yes' : 'NO',
      String(r.loadAverage),
    ]),
  );
}

export async function runBackChannelBench(input: BackChannelBenchInput): Promise<BackChannelRow[]> {
  const cfg = config();
  const kinds = cfg.repositories.filter(
    (kind) => (kind !== 'postgres' && kind !== 'redis') || input.databases.has(kind),
  );
  const rows: BackChannelRow[] = [];
  for (const alg of cfg.algs) {
    const tokensFile = join(input.workDir, `tokens-${alg}.txt`);
    const signStart = performance.now();
    await writeTokenPool(input.op, input.seed.clientId, alg, cfg.tokens, tokensFile);
    console.log(
      `signed ${cfg.tokens} ${alg} logout tokens in ${fixed((performance.now() - signStart) / 1000, 1)} s`,
    );
    for (const kind of kinds) {
      const row = await runRow(kind, alg, input, cfg, tokensFile);
      console.log(
        `back-channel ${kind} ${alg}: set up in ${fixed(row.setupSeconds, 1)} s; baseline ${fixed(row.baseline.requestsPerSecond)} req/s, library ${fixed(row.library.requestsPerSecond)} req/s, ratio ${fixed(row.ratio, 2)} (rounds ${row.roundRatios.map((r) => fixed(r, 2)).join(', ')})` +
          (row.floor
            ? `, floor ${fixed(row.floor.requestsPerSecond)} req/s (floor / baseline ${fixed(row.floorRatio!, 2)}, library / floor ${fixed(row.libraryToFloor!, 2)})`
            : '') +
          (row.eoc
            ? `, express-openid-connect ${fixed(row.eoc.requestsPerSecond)} req/s (library / e-o-c ${fixed(row.eocRatio!, 2)})`
            : '') +
          `; CPU server ${fixed(row.baseline.serverCpuUsPerRequest)} / ${fixed(row.library.serverCpuUsPerRequest)} µs/req, ` +
          `event loop busy ${fixed(row.baseline.eventLoopBusyPercent)}% / ${fixed(row.library.eventLoopBusyPercent)}%, ` +
          `load generator ${fixed(row.baseline.clientCpuPercent)}% / ${fixed(row.library.clientCpuPercent)}% (load ${row.loadAverage})` +
          (row.verified ? '' : `; FAILED: ${row.problems.join('; ')}`),
      );
      rows.push(row);
    }
  }
  return rows;
}
