/**
 * What the library's OpenTelemetry metrics and spans cost (issue 14), over HTTP, for the guard and
 * the back-channel endpoint (in-memory stores), in one run, in app processes alive at once
 * (bench/telemetry-app.ts; OpenTelemetry's global providers are process-wide):
 * - `noop`: `@opentelemetry/api` loaded, no provider installed (every instrument a no-op: what an
 *   app that does not use OpenTelemetry runs);
 * - `sdk`: the SDK installed before the app was created (bench/telemetry-sdk.ts: a MeterProvider
 *   with a reader, a tracer provider with a BatchSpanProcessor and a counting exporter, the
 *   AsyncLocalStorage context manager; every span sampled).
 *
 * Four routes alternate in rounds (the order rotating, each run after a forced collection in the
 * app measured, after a warm-up of each): the bare route of the `noop` process (`bare`: the guard
 * section's unguarded route, the back-channel section's jose route), the library's route in the
 * `noop` process (`noop`) and in the `sdk` process (`sdk`), and the bare route of the `sdk`
 * process (`sdk bare`: what the SDK costs the process beside the library, and how far two
 * processes differ). Every figure is the median over rounds of a ratio within a round: throughput,
 * and the app's CPU time per request (steadier: it does not count time another process held the
 * core).
 *
 * With BENCH_TELEMETRY_BEFORE (the path of a `telemetry-app.js` built against an earlier library by
 * bench/build-before-lib.sh, the commit before telemetry), two more processes run that library,
 * one without the SDK (`before`) and one with it (`before SDK`), and their library routes join the
 * rounds: the no-op API's cost is then `noop` / `before`, and what the library's metrics and spans
 * cost an app with the SDK is `sdk` / `before SDK` (the same SDK, the same server spans, the same
 * routes: only the library's telemetry differs), in the same run.
 *
 * Checked: every request answered 2xx; each process removed as many sessions as it answered
 * logouts; the SDK recorded one guard decision per guarded request and one logout request and one
 * back-channel span per logout it answered.
 *
 * Environment: BENCH_TELEMETRY_DURATION_S per route and endpoint (8, split over
 * BENCH_TELEMETRY_ROUNDS, 4), BENCH_WARMUP_S (2), BENCH_CONNECTIONS (16), BENCH_TELEMETRY_ALG
 * (RS256), BENCH_TELEMETRY_TOKENS (40000 per process), BENCH_TELEMETRY_SESSIONS (100000),
 * BENCH_TELEMETRY_ENDPOINTS (guard,back-channel).
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { METRIC, SPAN } from '../lib/telemetry/telemetry-names';
import type { FakeOp } from '../test/fixtures/fake-op';
import { writeTokenPool } from './back-channel.bench';
import { sessionIdOf, type SeedRow } from './databases';
import { median, sessionCookie, sessionsInUse } from './guard.bench';
import type { LoadGenerator, LoadResult } from './load-generator';
import {
  env,
  envList,
  fixed,
  loadAverage,
  markdownTable,
  mergeRuns,
  type MeasuredRun,
} from './report';
import { TELEMETRY_PATHS, TelemetryApp, type TelemetryAppStats } from './telemetry-app';

type Endpoint = 'guard' | 'back-channel';
type Variant = 'bare' | 'before' | 'noop' | 'sdk' | 'sdkBare' | 'beforeSdk';
/** The app processes: without SDK, with it, and (optional) the library before telemetry, without and with it. */
type Proc = 'noop' | 'sdk' | 'before' | 'beforeSdk';
const PROCS: readonly Proc[] = ['noop', 'sdk', 'before', 'beforeSdk'];
/** The table's column order. */
const ALL_VARIANTS: readonly Variant[] = ['bare', 'before', 'noop', 'sdk', 'sdkBare', 'beforeSdk'];

export interface TelemetryBenchInput {
  op: FakeOp;
  load: LoadGenerator;
  workDir: string;
  seed: SeedRow;
}

export interface TelemetryRow {
  endpoint: Endpoint;
  alg?: string;
  /** The routes measured (`before` only with BENCH_TELEMETRY_BEFORE). */
  variants: Variant[];
  /** All rounds merged. */
  requestsPerSecond: Partial<Record<Variant, number>>;
  /** Medians over rounds of the app's CPU time per request, microseconds. */
  cpuUsPerRequest: Partial<Record<Variant, number>>;
  /** Medians over rounds of the throughput ratios within a round. */
  noopToBare: number;
  /** no-op API / the library before telemetry (with BENCH_TELEMETRY_BEFORE). */
  noopToBefore?: number;
  /** The same in CPU per request (before / no-op), and the difference no-op - before in µs. */
  noopToBeforeCpu?: number;
  noopMinusBeforeCpuUs?: number;
  /** The library before telemetry / bare: the reference the no-op route is held to. */
  beforeToBare?: number;
  /**
   * The library with the SDK / the library before telemetry with the SDK (same SDK, same server
   * spans): what the library's own metrics and spans cost an app that has the SDK.
   */
  sdkToBeforeSdk?: number;
  /** The same in app CPU per request: SDK - before SDK, microseconds. */
  sdkMinusBeforeSdkCpuUs?: number;
  /** Before with the SDK / before without it: what the SDK alone costs the library's route. */
  beforeSdkToBefore?: number;
  sdkToNoop: number;
  sdkToBare: number;
  sdkBareToBare: number;
  /** The library with the SDK over the bare route with the SDK (same process, both traced). */
  sdkToSdkBare: number;
  /** Medians over rounds of the CPU-per-request ratios (the cheaper over the dearer, as throughput). */
  cpu: { noopToBare: number; sdkToNoop: number; sdkToBare: number };
  /** Medians over rounds of the CPU-per-request differences, microseconds. */
  noopMinusBareCpuUs: number;
  sdkMinusNoopCpuUs: number;
  rounds: {
    noopToBare: number[];
    sdkToNoop: number[];
    sdkToBare: number[];
    noopToBefore?: number[];
    sdkToBeforeSdk?: number[];
  };
  p99Ms: Partial<Record<Variant, number>>;
  failures: number;
  verified: boolean;
  problems: string[];
  loadAverage: number;
}

const config = () => ({
  durationMs: env('BENCH_TELEMETRY_DURATION_S', 8) * 1000,
  rounds: Math.floor(env('BENCH_TELEMETRY_ROUNDS', 4)),
  warmupMs: env('BENCH_WARMUP_S', 2) * 1000,
  connections: Math.floor(env('BENCH_CONNECTIONS', 16)),
  alg: envList<'RS256' | 'ES256'>('BENCH_TELEMETRY_ALG', ['RS256', 'ES256'])[0]!,
  tokens: Math.floor(env('BENCH_TELEMETRY_TOKENS', 40_000)),
  sessions: Math.floor(env('BENCH_TELEMETRY_SESSIONS', 100_000)),
  endpoints: envList<Endpoint>('BENCH_TELEMETRY_ENDPOINTS', ['guard', 'back-channel']),
  before: process.env.BENCH_TELEMETRY_BEFORE?.trim() || undefined,
});
type Config = ReturnType<typeof config>;

interface Apps {
  procs: Partial<Record<Proc, TelemetryApp>>;
  variants: Variant[];
  cookiesFile: string;
  tokensFile: string;
  /** The next token each process's library route takes (each has its own sessions and store). */
  libraryCursor: Record<Proc, number>;
  /** Requests each process's library routes answered 2xx, warm-ups included. */
  libraryOk: Record<Endpoint, Record<Proc, number>>;
  librarySent: Record<Endpoint, Record<Proc, number>>;
}

function procOf(variant: Variant): Proc {
  if (variant === 'sdk' || variant === 'sdkBare') return 'sdk';
  if (variant === 'before' || variant === 'beforeSdk') return variant;
  return 'noop';
}

const counts = (): Record<Proc, number> => ({ noop: 0, sdk: 0, before: 0, beforeSdk: 0 });

async function measure(
  endpoint: Endpoint,
  variant: Variant,
  durationMs: number,
  apps: Apps,
  cfg: Config,
  load: LoadGenerator,
): Promise<MeasuredRun> {
  const which = procOf(variant);
  const app = apps.procs[which]!;
  const library = variant !== 'bare' && variant !== 'sdkBare';
  await app.begin();
  let result: LoadResult;
  if (endpoint === 'guard') {
    result = await load.run({
      origin: app.origin,
      method: 'GET',
      path: library ? TELEMETRY_PATHS.guarded : TELEMETRY_PATHS.plain,
      cookiesFile: apps.cookiesFile,
      connections: cfg.connections,
      durationMs,
    });
  } else {
    result = await load.run({
      origin: app.origin,
      method: 'POST',
      path: library ? TELEMETRY_PATHS.backChannel : TELEMETRY_PATHS.baseline,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      bodiesFile: apps.tokensFile,
      // The library must never see a token twice; the bare route keeps no state: it cycles.
      start: library ? apps.libraryCursor[which] : 0,
      wrap: !library,
      connections: cfg.connections,
      durationMs,
    });
    if (library) apps.libraryCursor[which] = result.next;
  }
  const { cpuMs, eventLoopBusyMs } = await app.end();
  if (library) {
    apps.libraryOk[endpoint][which] += result.ok2xx;
    apps.librarySent[endpoint][which] += result.requests;
  }
  return { result, serverCpuMs: cpuMs, eventLoopBusyMs };
}

async function runEndpoint(
  endpoint: Endpoint,
  apps: Apps,
  cfg: Config,
  load: LoadGenerator,
): Promise<TelemetryRow> {
  const problems: string[] = [];
  const check = (variant: Variant, run: MeasuredRun) => {
    const r = run.result;
    if (r.non2xx > 0 || r.errors > 0) {
      problems.push(
        `${variant}: ${r.non2xx} non-2xx, ${r.errors} errors (statuses ${JSON.stringify(r.statuses)})`,
      );
    }
    if (r.exhausted) problems.push(`${variant}: ran out of tokens; raise BENCH_TELEMETRY_TOKENS`);
  };
  const variants = apps.variants;
  for (const variant of variants) {
    check(variant, await measure(endpoint, variant, cfg.warmupMs, apps, cfg, load));
  }
  const runs: Record<Variant, MeasuredRun[]> = {
    bare: [],
    before: [],
    noop: [],
    sdk: [],
    sdkBare: [],
    beforeSdk: [],
  };
  for (let round = 0; round < cfg.rounds; round++) {
    // The order rotates from round to round: no route always follows the same one.
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(round + k) % variants.length]!;
      const run = await measure(endpoint, variant, cfg.durationMs / cfg.rounds, apps, cfg, load);
      check(variant, run);
      runs[variant].push(run);
    }
  }
  const merged = Object.fromEntries(variants.map((v) => [v, mergeRuns(runs[v])])) as Record<
    Variant,
    ReturnType<typeof mergeRuns>
  >;
  const mapVariants = (of: (variant: Variant) => number): Partial<Record<Variant, number>> =>
    Object.fromEntries(variants.map((v) => [v, of(v)]));
  const rps = (run: MeasuredRun) => mergeRuns([run]).requestsPerSecond;
  const cpuUs = (run: MeasuredRun) => mergeRuns([run]).serverCpuUsPerRequest;
  const ratios = (a: Variant, b: Variant, of: (run: MeasuredRun) => number) =>
    runs[a].map((run, i) => of(run) / of(runs[b][i]!));
  const rounds = {
    noopToBare: ratios('noop', 'bare', rps),
    sdkToNoop: ratios('sdk', 'noop', rps),
    sdkToBare: ratios('sdk', 'bare', rps),
  };
  const before = variants.includes('before')
    ? {
        noopToBefore: median(ratios('noop', 'before', rps)),
        noopToBeforeCpu: median(ratios('before', 'noop', cpuUs)),
        noopMinusBeforeCpuUs: median(
          runs.noop.map((run, i) => cpuUs(run) - cpuUs(runs.before[i]!)),
        ),
        beforeToBare: median(ratios('before', 'bare', rps)),
        sdkToBeforeSdk: median(ratios('sdk', 'beforeSdk', rps)),
        sdkMinusBeforeSdkCpuUs: median(
          runs.sdk.map((run, i) => cpuUs(run) - cpuUs(runs.beforeSdk[i]!)),
        ),
        beforeSdkToBefore: median(ratios('beforeSdk', 'before', rps)),
      }
    : {};
  return {
    endpoint,
    ...(endpoint === 'back-channel' ? { alg: cfg.alg } : {}),
    variants,
    ...before,
    requestsPerSecond: mapVariants((v) => merged[v].requestsPerSecond),
    cpuUsPerRequest: mapVariants((v) => median(runs[v].map(cpuUs))),
    noopToBare: median(rounds.noopToBare),
    sdkToNoop: median(rounds.sdkToNoop),
    sdkToBare: median(rounds.sdkToBare),
    sdkBareToBare: median(ratios('sdkBare', 'bare', rps)),
    sdkToSdkBare: median(ratios('sdk', 'sdkBare', rps)),
    cpu: {
      noopToBare: median(ratios('bare', 'noop', cpuUs)),
      sdkToNoop: median(ratios('noop', 'sdk', cpuUs)),
      sdkToBare: median(ratios('bare', 'sdk', cpuUs)),
    },
    noopMinusBareCpuUs: median(runs.noop.map((run, i) => cpuUs(run) - cpuUs(runs.bare[i]!))),
    sdkMinusNoopCpuUs: median(runs.sdk.map((run, i) => cpuUs(run) - cpuUs(runs.noop[i]!))),
    rounds:
      before.noopToBefore === undefined
        ? rounds
        : {
            ...rounds,
            noopToBefore: ratios('noop', 'before', rps),
            sdkToBeforeSdk: ratios('sdk', 'beforeSdk', rps),
          },
    p99Ms: mapVariants((v) => merged[v].p99Ms),
    failures: variants.reduce((n, v) => n + merged[v].non2xx + merged[v].errors, 0),
    verified: problems.length === 0,
    problems,
    loadAverage: loadAverage(),
  };
}

/** What each process did, against what it was sent. */
function verifyApps(
  apps: Apps,
  cfg: Config,
  stats: Partial<Record<Proc, TelemetryAppStats>>,
): string[] {
  const problems: string[] = [];
  for (const which of PROCS) {
    if (!stats[which]) continue;
    const removed = cfg.sessions - stats[which].sessions;
    const logouts = apps.libraryOk['back-channel'][which];
    if (removed !== logouts || logouts !== apps.librarySent['back-channel'][which]) {
      problems.push(
        `${which}: ${apps.librarySent['back-channel'][which]} logouts sent, ${logouts} answered 2xx, ${removed} sessions removed`,
      );
    }
  }
  for (const which of ['noop', 'before'] as const) {
    if (stats[which]?.recorded) problems.push(`${which}: an SDK recorded telemetry`);
  }
  const beforeSdk = stats.beforeSdk;
  if (beforeSdk && !beforeSdk.recorded) problems.push('beforeSdk: no SDK installed');
  if (beforeSdk?.recorded?.metrics[METRIC.logoutRequests] !== undefined) {
    problems.push('beforeSdk: the library before telemetry recorded a metric');
  }
  const recorded = stats.sdk?.recorded;
  if (!recorded) return [...problems, 'sdk: no SDK installed'];
  const expect = (what: string, got: number | undefined, sent: number) => {
    if (got !== sent) problems.push(`sdk: ${what} ${got ?? 'none'}, expected ${sent}`);
  };
  if (cfg.endpoints.includes('guard')) {
    expect('guard decisions', recorded.metrics[METRIC.guardDecisions], apps.librarySent.guard.sdk);
    expect('guard durations', recorded.metrics[METRIC.guardDuration], apps.librarySent.guard.sdk);
  }
  if (cfg.endpoints.includes('back-channel')) {
    const logouts = apps.librarySent['back-channel'].sdk;
    expect('logout requests', recorded.metrics[METRIC.logoutRequests], logouts);
    expect('back-channel spans', recorded.spans[SPAN.backChannel], logouts);
  }
  return problems;
}

export async function runTelemetryBench(input: TelemetryBenchInput): Promise<TelemetryRow[]> {
  const cfg = config();
  const { seed } = input;
  const guardSessions = sessionsInUse(cfg.sessions, new Set());
  const cookiesFile = join(input.workDir, 'telemetry-cookies.txt');
  writeFileSync(
    cookiesFile,
    `${guardSessions.map((i) => sessionCookie(sessionIdOf(i))).join('\n')}\n`,
  );
  const tokensFile = join(input.workDir, `telemetry-tokens-${cfg.alg}.txt`);
  if (cfg.endpoints.includes('back-channel')) {
    const started = performance.now();
    await writeTokenPool(input.op, seed.clientId, cfg.alg, cfg.tokens, tokensFile);
    console.log(
      `telemetry: signed ${cfg.tokens} ${cfg.alg} logout tokens in ${fixed((performance.now() - started) / 1000, 1)} s`,
    );
  }
  const appConfig = {
    seed,
    jwksUri: input.op.jwksUri,
    alg: cfg.alg,
    sessions: cfg.sessions,
    tokens: cfg.tokens,
    guardSessions,
  };
  const procs: Partial<Record<Proc, TelemetryApp>> = {};
  try {
    procs.noop = await TelemetryApp.start({ ...appConfig, mode: 'noop' });
    procs.sdk = await TelemetryApp.start({ ...appConfig, mode: 'sdk' });
    if (cfg.before) {
      // An earlier library knows nothing of OpenTelemetry: once without the SDK, once with it
      // (the SDK's own cost, its server spans and context manager, without the library's).
      procs.before = await TelemetryApp.start({ ...appConfig, mode: 'noop' }, resolve(cfg.before));
      procs.beforeSdk = await TelemetryApp.start(
        { ...appConfig, mode: 'sdk' },
        resolve(cfg.before),
      );
    }
    const apps: Apps = {
      procs,
      variants: cfg.before
        ? ['bare', 'before', 'noop', 'sdk', 'sdkBare', 'beforeSdk']
        : ['bare', 'noop', 'sdk', 'sdkBare'],
      cookiesFile,
      tokensFile,
      libraryCursor: counts(),
      libraryOk: { guard: counts(), 'back-channel': counts() },
      librarySent: { guard: counts(), 'back-channel': counts() },
    };
    const rows: TelemetryRow[] = [];
    // The guard first: its sessions are among those the logout tokens name.
    for (const endpoint of (['guard', 'back-channel'] as const).filter((e) =>
      cfg.endpoints.includes(e),
    )) {
      const row = await runEndpoint(endpoint, apps, cfg, input.load);
      const each = (of: Partial<Record<Variant, number>>, digits: number) =>
        row.variants.map((v) => `${v} ${fixed(of[v] ?? Number.NaN, digits)}`).join(', ');
      console.log(
        `telemetry ${endpoint}${row.alg ? ` ${row.alg}` : ''}: req/s ${each(row.requestsPerSecond, 0)}; ` +
          `medians of ${row.rounds.sdkToNoop.length} rounds: no-op/bare ${fixed(row.noopToBare, 3)}, SDK/no-op ${fixed(row.sdkToNoop, 3)}, SDK/bare ${fixed(row.sdkToBare, 3)}` +
          (row.noopToBefore === undefined
            ? ''
            : `, no-op/before ${fixed(row.noopToBefore, 3)} (rounds ${row.rounds.noopToBefore?.map((r) => fixed(r, 2)).join(', ')}), before/bare ${fixed(row.beforeToBare ?? Number.NaN, 3)}` +
              `, SDK/before SDK ${fixed(row.sdkToBeforeSdk ?? Number.NaN, 3)} (rounds ${row.rounds.sdkToBeforeSdk?.map((r) => fixed(r, 2)).join(', ')}), before SDK/before ${fixed(row.beforeSdkToBefore ?? Number.NaN, 3)}`) +
          ` (SDK/no-op rounds ${row.rounds.sdkToNoop.map((r) => fixed(r, 2)).join(', ')}); ` +
          `CPU µs/req ${each(row.cpuUsPerRequest, 1)} (load ${row.loadAverage})` +
          (row.verified ? '' : `; FAILED: ${row.problems.join('; ')}`),
      );
      rows.push(row);
    }
    const stats: Partial<Record<Proc, TelemetryAppStats>> = {};
    for (const which of PROCS) stats[which] = await procs[which]?.stats();
    const problems = verifyApps(apps, cfg, stats);
    if (problems.length > 0) {
      console.error(`telemetry: ${problems.join('; ')}`);
      for (const row of rows) {
        row.problems.push(...problems);
        row.verified = false;
      }
    }
    return rows;
  } finally {
    for (const which of PROCS) await procs[which]?.close();
  }
}

export function telemetryTable(rows: readonly TelemetryRow[]): string {
  const spread = (values: readonly number[] | undefined) =>
    values ? `${fixed(Math.min(...values), 2)} to ${fixed(Math.max(...values), 2)}` : '-';
  const n = (value: number | undefined, digits: number) =>
    value === undefined ? '-' : fixed(value, digits);
  const each = (r: TelemetryRow, of: Partial<Record<Variant, number>>, digits = 0) =>
    ALL_VARIANTS.map((v) => n(of[v], digits)).join(' / ');
  return markdownTable(
    [
      'endpoint (in-memory)',
      'req/s bare / before / no-op / SDK / bare in SDK process / before in SDK process',
      'no-op / before',
      'before / bare',
      'no-op / bare',
      'SDK / no-op',
      'SDK / bare',
      'bare in SDK process / bare',
      'SDK / bare in SDK process',
      'SDK / before in SDK process',
      'before in SDK process / before',
      'rounds: no-op / before, SDK / no-op, SDK / before in SDK process',
      'CPU µs/req bare / before / no-op / SDK / bare in SDK process / before in SDK process',
      'CPU µs/req no-op - before, no-op - bare, SDK - no-op, SDK - before in SDK process',
      'CPU ratios no-op / before, SDK / no-op',
      'p99 ms bare / before / no-op / SDK / bare in SDK process / before in SDK process',
      'failed',
      'verified',
      'load avg',
    ],
    rows.map((r) => [
      r.endpoint === 'guard' ? 'guard' : `back-channel ${r.alg}`,
      each(r, r.requestsPerSecond),
      n(r.noopToBefore, 3),
      n(r.beforeToBare, 3),
      fixed(r.noopToBare, 3),
      fixed(r.sdkToNoop, 3),
      fixed(r.sdkToBare, 3),
      fixed(r.sdkBareToBare, 3),
      fixed(r.sdkToSdkBare, 3),
      n(r.sdkToBeforeSdk, 3),
      n(r.beforeSdkToBefore, 3),
      `${spread(r.rounds.noopToBefore)}, ${spread(r.rounds.sdkToNoop)}, ${spread(r.rounds.sdkToBeforeSdk)}`,
      each(r, r.cpuUsPerRequest),
      `${n(r.noopMinusBeforeCpuUs, 1)}, ${fixed(r.noopMinusBareCpuUs, 1)}, ${fixed(r.sdkMinusNoopCpuUs, 1)}, ${n(r.sdkMinusBeforeSdkCpuUs, 1)}`,
      `${n(r.noopToBeforeCpu, 3)}, ${fixed(r.cpu.sdkToNoop, 3)}`,
      each(r, r.p99Ms, 1),
      String(r.failures),
      r.verified ? 'yes' : 'NO',
      String(r.loadAverage),
    ]),
  );
}
