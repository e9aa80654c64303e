/**
 * `npm run bench`: every benchmark in one process, sharing the fake OP, the load generator and the
 * databases (PostgreSQL schema `oidc_bench_<pid>` and a SQLite file, grown to 1,000,000 sessions once by
 * the scale section and reused by the guard and back-channel sections). Run with
 * `node --expose-gc` (the memory figures need it).
 *
 * Sections, in order (BENCH_SECTIONS selects some: `micro,scale,guard,back-channel,telemetry`):
 * 1. micro: the guard's own cost per call in-process, memory per session in memory;
 * 2. scale: revocation latency and lookups/s at 10k, 100k, 1M sessions (PostgreSQL, SQLite, Redis);
 * 3. guard: a guarded route vs the same route without the guard, over HTTP;
 * 4. back-channel: the logout endpoint vs a bare jose route and vs express-openid-connect;
 * 5. telemetry: the guard and the back-channel endpoint with OpenTelemetry's SDK installed vs
 *    without (the no-op API), in two to four app processes (in memory; no database).
 * The databases are opened and seeded only for the sections that use them (2 to 4).
 *
 * Every figure is a ratio to a baseline measured in the same run. Results: a markdown report on
 * stdout and bench/results/bench.md, JSON in bench/results/bench.json (neither committed); the committed figures are in
 * docs/BENCHMARKS.md.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startFakeOp } from '../test/fixtures/fake-op';
import { signIdToken } from '../test/fixtures/tokens';
import { createBenchDataSource, type SeedRow } from './databases';
import { openBenchRedis } from './redis';
import { dropStore, restoreStore, seedStore, type BenchStore, type StoreKind } from './stores';
import { guardTable, runGuardBench, type GuardRow } from './guard.bench';
import { backChannelTable, runBackChannelBench, type BackChannelRow } from './back-channel.bench';
import { LoadGenerator } from './load-generator';
import { runTelemetryBench, telemetryTable, type TelemetryRow } from './telemetry.bench';
import { microTables, runMicroBench, type MicroResults } from './micro.bench';
import { describeMachine, env, envList, fixed, machineLine, writeJson } from './report';
import { runScaleBench, scaleTable, type ScaleDatabase, type ScaleResult } from './scale.bench';

const SECTIONS = ['micro', 'scale', 'guard', 'back-channel', 'telemetry'] as const;
type Section = (typeof SECTIONS)[number];

const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'bench.json');
const MARKDOWN_FILE = RESULTS_FILE.replace(/\.json$/, '.md');

export const REGISTRATION_ID = 'bench';
export const CLIENT_ID = 'bench-client';

async function main(): Promise<void> {
  const sections = new Set<Section>(envList('BENCH_SECTIONS', SECTIONS));
  const machine = describeMachine();
  console.log(`nest-oidc-logout benchmarks on ${machineLine(machine)}`);
  const started = performance.now();
  const report: string[] = [];
  const results: {
    micro?: MicroResults;
    scale?: ScaleResult;
    guard?: GuardRow[];
    backChannel?: BackChannelRow[];
    telemetry?: TelemetryRow[];
  } = {};

  if (sections.has('micro')) {
    results.micro = await runMicroBench();
    report.push(`### Guard in-process, memory per session\n\n${microTables(results.micro)}`);
  }

  const workDir = mkdtempSync(join(tmpdir(), 'nest-oidc-logout-bench-'));
  const op = await startFakeOp();
  const load = await LoadGenerator.start();
  const databases: ScaleDatabase[] = [];
  try {
    const now = Date.now();
    const seed: SeedRow = {
      registrationId: REGISTRATION_ID,
      issuer: op.issuer,
      clientId: CLIENT_ID,
      idToken: await signIdToken(op.keys, { iss: op.issuer, aud: CLIENT_ID }),
      createdAt: now,
      expiresAt: now + 24 * 3600 * 1000,
    };
    const usesDatabases = (['scale', 'guard', 'back-channel'] as const).some((s) =>
      sections.has(s),
    );
    const kinds = usesDatabases
      ? envList<StoreKind>('BENCH_DATABASES', ['postgres', 'sqlite', 'redis'])
      : [];
    for (const kind of kinds) {
      databases.push(
        kind === 'redis'
          ? { kind, redis: await openBenchRedis(), seededUpTo: 0 }
          : {
              kind,
              dataSource: await createBenchDataSource(kind, workDir),
              seededUpTo: 0,
            },
      );
    }
    const revoked = new Map<StoreKind, Set<number>>();

    if (sections.has('scale')) {
      results.scale = await runScaleBench(databases, seed, revoked);
      report.push(
        `### Scale (${results.scale.concurrency} concurrent callers, ${results.scale.durationMs / 1000} s per figure)\n\n${scaleTable(results.scale)}`,
      );
      if (results.scale.problems.length > 0) {
        console.error(`scale: ${results.scale.problems.join('; ')}`);
        process.exitCode = 1;
      }
    }

    // The guard and back-channel sections use the databases at their full size, every session
    // recorded (those the scale section revoked are restored).
    const fullSize = Math.floor(env('BENCH_DB_SESSIONS', 1_000_000));
    for (const database of databases) {
      const gone = revoked.get(database.kind);
      if (gone) {
        await restoreStore(database, seed, [...gone]);
        gone.clear();
      }
      if (database.seededUpTo < fullSize) {
        await seedStore(database, seed, database.seededUpTo, fullSize);
        database.seededUpTo = fullSize;
      }
    }
    const shared = new Map<StoreKind, BenchStore>(databases.map((d) => [d.kind, d]));

    if (sections.has('guard')) {
      results.guard = await runGuardBench({ load, workDir, seed, databases: shared, revoked });
      report.push(
        `### Guard cost over HTTP (express-session on both routes)\n\n${guardTable(results.guard)}`,
      );
      if (results.guard.some((row) => !row.verified)) process.exitCode = 1;
    }

    if (sections.has('back-channel')) {
      results.backChannel = await runBackChannelBench({
        op,
        load,
        workDir,
        seed,
        databases: shared,
      });
      report.push(
        `### Back-channel logout throughput (distinct valid tokens)\n\n${backChannelTable(results.backChannel)}`,
      );
      if (results.backChannel.some((row) => !row.verified)) process.exitCode = 1;
    }

    if (sections.has('telemetry')) {
      results.telemetry = await runTelemetryBench({ op, load, workDir, seed });
      report.push(
        `### OpenTelemetry: SDK installed vs no-op API (in-memory stores, an app process each)\n\n${telemetryTable(results.telemetry)}`,
      );
      if (results.telemetry.some((row) => !row.verified)) process.exitCode = 1;
    }
  } finally {
    for (const database of databases) await dropStore(database);
    await load.close();
    await op.close();
    rmSync(workDir, { recursive: true, force: true });
  }

  const markdown = report.join('\n\n');
  console.log(`\n${markdown}\n`);
  const seconds = (performance.now() - started) / 1000;
  console.log(`total ${fixed(seconds, 0)} s`);
  writeJson(RESULTS_FILE, {
    date: new Date().toISOString(),
    machine,
    seconds,
    results,
    markdown,
  });
  writeFileSync(MARKDOWN_FILE, `${markdown}\n`);
  console.log(`results: ${RESULTS_FILE}, ${MARKDOWN_FILE}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
