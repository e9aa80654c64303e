/** Helpers shared by the benchmarks: the machine, statistics of load runs, reports. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import type { LoadResult } from './load-generator';

/** What the figures were measured on. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  os: string;
  memoryGiB: number;
  /** 1-minute load average when the bench started: other work on the machine skews the figures. */
  loadAverage: number;
}

export function describeMachine(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: keep os.cpus()'s model.
  }
  return {
    cpus: availableParallelism(),
    cpuModel,
    node: process.version,
    os: `${platform()} ${release()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadAverage(),
  };
}

/** The 1-minute load average now: each figure carries the one of its own measurement. */
export function loadAverage(): number {
  return Number((loadavg()[0] ?? 0).toFixed(2));
}

/** A positive number from the environment. */
export function env(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

/** A comma-separated subset of `all` from the environment (default: all). */
export function envList<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name];
  if (!raw) return [...all];
  const list = raw.split(',').map((s) => s.trim());
  for (const item of list) {
    if (!all.includes(item as T)) throw new Error(`${name}: unknown '${item}'`);
  }
  return list as T[];
}

export function machineLine(machine: MachineInfo): string {
  return (
    `${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, ` +
    `${machine.os}, load average ${machine.loadAverage}`
  );
}

/** Several runs of one route, merged. */
export interface RouteStats {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  runs: number;
  /** The server's CPU time per request (user + system), in microseconds. */
  serverCpuUsPerRequest: number;
  /** Share of one core the server used while measured. */
  serverCpuPercent: number;
  /** Share of one core the load generator used (near 100: it was the bottleneck). */
  clientCpuPercent: number;
  /**
   * Share of the time the server's event loop was busy (NaN when not measured): below 100 with
   * every connection in flight, the server waited (on its store, say) rather than worked.
   */
  eventLoopBusyPercent: number;
}

/** One load run and the server's CPU time during it. */
export interface MeasuredRun {
  result: LoadResult;
  serverCpuMs: number;
  /** Time the server's event loop was busy during the run (`performance.eventLoopUtilization`). */
  eventLoopBusyMs?: number;
}

/** The value below which `fraction` of the sorted values lie (nearest rank). */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function mergeRuns(runs: readonly MeasuredRun[]): RouteStats {
  const results = runs.map((r) => r.result);
  const total = results.reduce((n, r) => n + r.latenciesMs.length, 0);
  const latencies = new Float64Array(total);
  let offset = 0;
  for (const r of results) {
    latencies.set(r.latenciesMs, offset);
    offset += r.latenciesMs.length;
  }
  latencies.sort();
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const elapsedMs = results.reduce((n, r) => n + r.elapsedMs, 0);
  const serverCpuMs = runs.reduce((n, r) => n + r.serverCpuMs, 0);
  const clientCpuMs = results.reduce((n, r) => n + r.clientCpuMs, 0);
  const eventLoopBusyMs = runs.reduce((n, r) => n + (r.eventLoopBusyMs ?? Number.NaN), 0);
  return {
    requests,
    requestsPerSecond: elapsedMs > 0 ? (requests * 1000) / elapsedMs : 0,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    runs: results.length,
    serverCpuUsPerRequest: requests > 0 ? (serverCpuMs * 1000) / requests : Number.NaN,
    serverCpuPercent: elapsedMs > 0 ? (serverCpuMs * 100) / elapsedMs : Number.NaN,
    clientCpuPercent: elapsedMs > 0 ? (clientCpuMs * 100) / elapsedMs : Number.NaN,
    eventLoopBusyPercent: elapsedMs > 0 ? (eventLoopBusyMs * 100) / elapsedMs : Number.NaN,
  };
}

/** A markdown table; numbers are the caller's strings. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fixed = (value: number, digits = 0): string =>
  Number.isFinite(value) ? value.toFixed(digits) : 'n/a';

export function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
