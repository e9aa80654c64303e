/**
 * `npm run bench:back-channel`: throughput of the back-channel logout endpoint with distinct valid
 * logout tokens, as a ratio to a bare route of the same app that only parses the same form body and
 * verifies the token with jose against the same keys.
 *
 * Per row (repository x algorithm): a fresh Nest app (express, OidcLogoutModule, the baseline
 * route) against a fake OP on 127.0.0.1; SESSIONS sessions recorded through the repository's
 * `save`; the load generator (another process) posts pre-signed tokens, each naming one recorded
 * session (`sid`) and used once by the library; both routes run alternately (baseline, library,
 * baseline, library) after a warm-up of each. Afterwards the bench checks that it measured real
 * logouts: no failed request, and exactly the sessions named by the tokens sent are gone.
 *
 * Environment: BENCH_SESSIONS (100000), BENCH_DURATION_S per route and row (10, split over
 * BENCH_ROUNDS alternations, 4), BENCH_WARMUP_S (2), BENCH_CONNECTIONS (16), BENCH_ALGS
 * (RS256,ES256), BENCH_REPOSITORIES (sqlite,memory).
 *
 * SQLite runs as a server would run it: a file in the temp directory, WAL, `synchronous = NORMAL`
 * (with the default rollback journal every commit waits for an fsync: see bench/BENCHMARKS.md).
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
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import {
  hashSessionId,
  InMemoryOidcSessionRepository,
  OIDC_LOGOUT_ENTITIES,
  OidcLogoutModule,
  OidcSessionRepository,
  type OidcLogoutModuleOptions,
  type OidcSessionInfo,
} from '../lib';
import { startFakeOp, type FakeOp } from '../test/fixtures/fake-op';
import { signIdToken, signLogoutToken, nowSeconds } from '../test/fixtures/tokens';
import { LoadGenerator, type LoadResult } from './load-generator';
import {
  describeMachine,
  fixed,
  machineLine,
  markdownTable,
  mergeRuns,
  writeJson,
  type MeasuredRun,
  type RouteStats,
} from './report';

type Alg = 'RS256' | 'ES256';
type RepositoryKind = 'sqlite' | 'memory';

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const envList = <T extends string>(name: string, all: readonly T[]): T[] => {
  const raw = process.env[name];
  if (!raw) return [...all];
  const list = raw.split(',').map((s) => s.trim());
  for (const item of list) {
    if (!all.includes(item as T)) throw new Error(`${name}: unknown '${item}'`);
  }
  return list as T[];
};

const CONFIG = {
  sessions: Math.floor(env('BENCH_SESSIONS', 100_000)),
  durationMs: env('BENCH_DURATION_S', 10) * 1000,
  warmupMs: env('BENCH_WARMUP_S', 2) * 1000,
  rounds: Math.floor(env('BENCH_ROUNDS', 4)),
  connections: Math.floor(env('BENCH_CONNECTIONS', 16)),
  algs: envList<Alg>('BENCH_ALGS', ['RS256', 'ES256']),
  repositories: envList<RepositoryKind>('BENCH_REPOSITORIES', ['sqlite', 'memory']),
};

const REGISTRATION_ID = 'bench';
const CLIENT_ID = 'bench-client';
const LIBRARY_PATH = `/logout/connect/back-channel/${REGISTRATION_ID}`;
const BASELINE_PATH = '/bench/baseline';
const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };
/** Logout tokens live 120 s at real OPs; these must outlive signing plus every row. */
const TOKEN_LIFETIME_SECONDS = 1800;
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'back-channel.json');

const sessionIdOf = (i: number) => `bench-app-session-${i}`;
const sidOf = (i: number) => `bench-op-session-${i}`;
const subOf = (i: number) => `bench-user-${i}`;

/** The bare route's verification: what an app doing it by hand with jose would do. */
const BASELINE_VERIFIER = Symbol('BASELINE_VERIFIER');
interface BaselineVerifier {
  keys: JWTVerifyGetKey;
  options: JWTVerifyOptions;
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
}

interface BenchApp {
  app: INestApplication;
  origin: string;
  repository: OidcSessionRepository;
  countSessions(): Promise<number>;
  close(): Promise<void>;
}

async function startBenchApp(
  kind: RepositoryKind,
  alg: Alg,
  op: FakeOp,
  workDir: string,
): Promise<BenchApp> {
  let dataSource: DataSource | undefined;
  const oidc: OidcLogoutModuleOptions = {
    clients: [{ registrationId: REGISTRATION_ID, issuer: op.issuer, clientId: CLIENT_ID }],
  };
  if (kind === 'sqlite') {
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(workDir, `sessions-${alg}.sqlite`),
      entities: OIDC_LOGOUT_ENTITIES,
      synchronize: true,
      enableWAL: true,
      prepareDatabase: (db: { pragma(source: string): unknown }) => {
        db.pragma('synchronous = NORMAL');
      },
      logging: false,
    });
    await dataSource.initialize();
    oidc.dataSource = dataSource;
  } else {
    // Room for every session and every logout event of the run: no eviction.
    oidc.sessionRepository = new InMemoryOidcSessionRepository({ maxEntries: 4 * CONFIG.sessions });
  }
  const verifier: BaselineVerifier = {
    keys: createRemoteJWKSet(new URL(op.jwksUri)),
    options: { algorithms: [alg], issuer: op.issuer, audience: CLIENT_ID },
  };

  @Module({
    imports: [OidcLogoutModule.forRoot(oidc)],
    controllers: [BaselineController],
    providers: [{ provide: BASELINE_VERIFIER, useValue: verifier }],
  })
  class BenchModule {}

  const app = await NestFactory.create(BenchModule as Type, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const origin = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const repository = app.get(OidcSessionRepository);
  return {
    app,
    origin,
    repository,
    async countSessions() {
      if (repository instanceof InMemoryOidcSessionRepository) return repository.size;
      const rows: { n: number }[] = await dataSource!.query(
        'SELECT COUNT(*) AS n FROM oidc_sessions',
      );
      return Number(rows[0]?.n);
    },
    async close() {
      await app.close();
      if (dataSource?.isInitialized) await dataSource.destroy();
    },
  };
}

/** Records `count` logins straight through the repository (session ids hashed as the library does). */
async function seedSessions(
  repository: OidcSessionRepository,
  op: FakeOp,
  count: number,
  idToken: string,
): Promise<void> {
  const now = Date.now();
  const createdAt = new Date(now);
  const expiresAt = new Date(now + 24 * 3600 * 1000);
  const batch = 1000;
  for (let first = 0; first < count; first += batch) {
    const saves: Promise<void>[] = [];
    for (let i = first; i < Math.min(count, first + batch); i++) {
      const info: OidcSessionInfo = {
        clientSessionId: hashSessionId(sessionIdOf(i)),
        registrationId: REGISTRATION_ID,
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sid: sidOf(i),
        sub: subOf(i),
        idToken,
        createdAt,
        expiresAt,
      };
      saves.push(repository.save(info));
    }
    await Promise.all(saves);
    // better-sqlite3 is synchronous: let the event loop breathe, or the module's discovery request
    // to the fake OP (same process) times out while the sessions are written.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Signs `count` distinct logout tokens (token i names session i) and writes them as form bodies,
 * one per line. WebCrypto signs on libuv's thread pool: batches keep both cores busy.
 */
async function writeTokenPool(op: FakeOp, alg: Alg, count: number, file: string): Promise<void> {
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
          clientId: CLIENT_ID,
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

interface RowResult {
  repository: RepositoryKind;
  alg: Alg;
  sessionsBefore: number;
  sessionsAfter: number;
  baseline: RouteStats;
  library: RouteStats;
  ratio: number;
  /** The ratio of each round (library / the baseline just before it): their spread shows the noise. */
  roundRatios: number[];
  /** Library requests sent, warm-up included: one logout (and one token) each. */
  logouts: number;
  verified: boolean;
  problems: string[];
  seedSeconds: number;
}

async function runRow(
  kind: RepositoryKind,
  alg: Alg,
  op: FakeOp,
  load: LoadGenerator,
  tokensFile: string,
  idToken: string,
  workDir: string,
): Promise<RowResult> {
  const bench = await startBenchApp(kind, alg, op, workDir);
  try {
    const seedStart = performance.now();
    await seedSessions(bench.repository, op, CONFIG.sessions, idToken);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const sessionsBefore = await bench.countSessions();

    const cursors = { baseline: 0, library: 0 };
    const all: { route: 'baseline' | 'library'; result: LoadResult }[] = [];
    const measure = async (
      route: 'baseline' | 'library',
      durationMs: number,
    ): Promise<MeasuredRun> => {
      const cpuAtStart = process.cpuUsage();
      const result = await load.run({
        origin: bench.origin,
        method: 'POST',
        path: route === 'baseline' ? BASELINE_PATH : LIBRARY_PATH,
        headers: FORM_HEADERS,
        bodiesFile: tokensFile,
        start: cursors[route],
        // The baseline keeps no state: it may cycle. The library must never see a token twice.
        wrap: route === 'baseline',
        connections: CONFIG.connections,
        durationMs,
      });
      const cpu = process.cpuUsage(cpuAtStart);
      cursors[route] = result.next;
      all.push({ route, result });
      return { result, serverCpuMs: (cpu.user + cpu.system) / 1000 };
    };

    await measure('baseline', CONFIG.warmupMs);
    await measure('library', CONFIG.warmupMs);
    const baseline: MeasuredRun[] = [];
    const library: MeasuredRun[] = [];
    for (let round = 0; round < CONFIG.rounds; round++) {
      baseline.push(await measure('baseline', CONFIG.durationMs / CONFIG.rounds));
      library.push(await measure('library', CONFIG.durationMs / CONFIG.rounds));
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
      if (result.exhausted) {
        problems.push(`${route}: ran out of tokens/sessions; lower the duration`);
      }
    }
    const logouts = cursors.library;
    const libraryOk = all
      .filter((a) => a.route === 'library')
      .reduce((n, a) => n + a.result.ok2xx, 0);
    const sessionsAfter = await bench.countSessions();
    const removed = sessionsBefore - sessionsAfter;
    if (sessionsBefore !== CONFIG.sessions) {
      problems.push(`seeded ${CONFIG.sessions} sessions, the repository holds ${sessionsBefore}`);
    }
    if (removed !== libraryOk || libraryOk !== logouts) {
      problems.push(
        `${logouts} tokens sent, ${libraryOk} answered 2xx, ${removed} sessions removed`,
      );
    }
    let stillThere = 0;
    for (let i = 0; i < logouts; i++) {
      if (await bench.repository.findByClientSessionId(hashSessionId(sessionIdOf(i)))) stillThere++;
    }
    if (stillThere > 0) problems.push(`${stillThere} logged-out sessions are still recorded`);
    let missing = 0;
    for (let i = logouts; i < Math.min(CONFIG.sessions, logouts + 1000); i++) {
      if (!(await bench.repository.findByClientSessionId(hashSessionId(sessionIdOf(i))))) missing++;
    }
    if (missing > 0) problems.push(`${missing} sessions no token named are gone`);

    const baselineStats = mergeRuns(baseline);
    const libraryStats = mergeRuns(library);
    return {
      repository: kind,
      alg,
      sessionsBefore,
      sessionsAfter,
      baseline: baselineStats,
      library: libraryStats,
      ratio: libraryStats.requestsPerSecond / baselineStats.requestsPerSecond,
      roundRatios: library.map(
        (run, i) =>
          mergeRuns([run]).requestsPerSecond / mergeRuns([baseline[i]!]).requestsPerSecond,
      ),
      logouts,
      verified: problems.length === 0,
      problems,
      seedSeconds,
    };
  } finally {
    await bench.close();
  }
}

function table(rows: readonly RowResult[]): string {
  return markdownTable(
    [
      'repository',
      'alg',
      'sessions',
      'baseline req/s',
      'library req/s',
      'ratio',
      'baseline p50 / p99 ms',
      'library p50 / p99 ms',
      'server CPU µs/req (baseline / library)',
      'non-2xx',
      'verified',
    ],
    rows.map((r) => [
      r.repository === 'sqlite' ? 'TypeORM SQLite' : 'in-memory',
      r.alg,
      `${r.sessionsBefore} -> ${r.sessionsAfter}`,
      fixed(r.baseline.requestsPerSecond),
      fixed(r.library.requestsPerSecond),
      fixed(r.ratio, 2),
      `${fixed(r.baseline.p50Ms, 2)} / ${fixed(r.baseline.p99Ms, 2)}`,
      `${fixed(r.library.p50Ms, 2)} / ${fixed(r.library.p99Ms, 2)}`,
      `${fixed(r.baseline.serverCpuUsPerRequest)} / ${fixed(r.library.serverCpuUsPerRequest)}`,
      `${r.baseline.non2xx + r.baseline.errors} / ${r.library.non2xx + r.library.errors}`,
      r.verified ? 'yes' : 'NO',
    ]),
  );
}

async function main(): Promise<void> {
  const machine = describeMachine();
  console.log(`Back-channel logout bench on ${machineLine(machine)}`);
  console.log(
    `${CONFIG.sessions} sessions, ${CONFIG.connections} connections, ` +
      `${CONFIG.durationMs / 1000} s per route and row (${CONFIG.rounds} alternated rounds) after ${CONFIG.warmupMs / 1000} s of warm-up`,
  );
  const workDir = mkdtempSync(join(tmpdir(), 'nest-oidc-logout-bench-'));
  const op = await startFakeOp();
  const load = await LoadGenerator.start();
  const rows: RowResult[] = [];
  const started = performance.now();
  try {
    const idToken = await signIdToken(op.keys, { iss: op.issuer, aud: CLIENT_ID });
    for (const alg of CONFIG.algs) {
      const tokensFile = join(workDir, `tokens-${alg}.txt`);
      const signStart = performance.now();
      await writeTokenPool(op, alg, CONFIG.sessions, tokensFile);
      console.log(
        `signed ${CONFIG.sessions} ${alg} logout tokens in ${fixed((performance.now() - signStart) / 1000, 1)} s`,
      );
      for (const kind of CONFIG.repositories) {
        const row = await runRow(kind, alg, op, load, tokensFile, idToken, workDir);
        console.log(
          `${kind} ${alg}: seeded in ${fixed(row.seedSeconds, 1)} s; baseline ${fixed(row.baseline.requestsPerSecond)} req/s, library ${fixed(row.library.requestsPerSecond)} req/s, ratio ${fixed(row.ratio, 2)} (rounds ${row.roundRatios.map((r) => fixed(r, 2)).join(', ')}); ` +
            `CPU server ${fixed(row.baseline.serverCpuPercent)}% / ${fixed(row.library.serverCpuPercent)}%, ` +
            `load generator ${fixed(row.baseline.clientCpuPercent)}% / ${fixed(row.library.clientCpuPercent)}%` +
            (row.verified ? '' : `; FAILED: ${row.problems.join('; ')}`),
        );
        rows.push(row);
      }
    }
  } finally {
    await load.close();
    await op.close();
    rmSync(workDir, { recursive: true, force: true });
  }
  const markdown = table(rows);
  console.log(`\n${markdown}\n`);
  console.log(`total ${fixed((performance.now() - started) / 1000, 0)} s`);
  writeJson(RESULTS_FILE, {
    bench: 'back-channel',
    date: new Date().toISOString(),
    machine,
    config: CONFIG,
    rows,
    markdown,
  });
  console.log(`results: ${RESULTS_FILE}`);
  if (rows.some((r) => !r.verified)) {
    console.error('The bench did not measure what it should: see the problems above.');
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
