/** Benchmark figures: a readable table, merged into bench/results.json. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Figure {
  readonly value: number;
  readonly unit: string;
  /** Shown in the table, not written to results.json. */
  readonly note?: string;
}

export type Figures = Record<string, Figure>;

export const RESULTS = join(import.meta.dirname, 'results.json');

export function printTable(group: string, figures: Figures): void {
  const rows = Object.entries(figures);
  const width = Math.max(...rows.map(([k]) => k.length), 4);
  process.stdout.write(`\n${group}\n`);
  for (const [key, f] of rows) {
    const value = Number.isInteger(f.value)
      ? String(f.value)
      : f.value.toFixed(f.value < 10 ? 3 : 1);
    process.stdout.write(
      `  ${key.padEnd(width)}  ${value.padStart(12)} ${f.unit.padEnd(6)}${f.note ? `  ${f.note}` : ''}\n`,
    );
  }
}

export function mergeResults(group: string, figures: Figures): void {
  const all = existsSync(RESULTS)
    ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>)
    : {};
  all[group] = Object.fromEntries(
    Object.entries(figures).map(([k, f]) => [k, { value: f.value, unit: f.unit }]),
  );
  writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs fn `warmup` times untimed, then `runs` times; returns the times in ms. */
export async function timeRuns(fn: () => unknown, runs: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times;
}
