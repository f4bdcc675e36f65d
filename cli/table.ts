/** How cpectl prints what the CPE answers: values, maps and tables, and colour on a terminal. */
import type { QmfMap } from '../lib/bus/qmf.js';
import { writeLine, type Io } from './command.js';

/** A value from a reply, for people: dates as ISO 8601, maps and lists as JSON. */
export function show(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function printMap(io: Io, map: QmfMap): void {
  const width = Math.max(...Object.keys(map).map((k) => k.length));
  for (const [k, v] of Object.entries(map)) writeLine(io.stdout, `${k.padEnd(width)}  ${show(v)}`);
}

/** Columns padded to their widest cell, as seen: colour codes take no room. */
export function printTable(io: Io, rows: readonly (readonly string[])[]): void {
  const seen = (c: string): number => c.replace(/\x1b\[\d+m/g, '').length;
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => seen(r[i]!))));
  for (const r of rows)
    writeLine(
      io.stdout,
      r
        .map((c, i) => c + ' '.repeat(widths[i]! - seen(c)))
        .join('  ')
        .trimEnd(),
    );
}

/** Colour only on a terminal that wants it (NO_COLOR, TERM=dumb and pipes get none). */
export function colours(stream: NodeJS.WritableStream): boolean {
  return (
    (stream as NodeJS.WriteStream).isTTY === true &&
    process.env.NO_COLOR === undefined &&
    process.env.TERM !== 'dumb'
  );
}

const GOOD = new Set(['running', 'up', 'active', 'yes']);
const BAD = new Set(['down', 'failed', 'blocked', 'emerg', 'alert', 'crit', 'error']);
const WARN = new Set(['degraded', 'suspect', 'starting', 'unknown', 'recovering', 'warn', 'no']);

/** A state or severity word in its colour (green, yellow, red), when `on`. */
export function paint(word: string, on: boolean): string {
  if (!on) return word;
  const code = GOOD.has(word) ? 32 : BAD.has(word) ? 31 : WARN.has(word) ? 33 : 0;
  return code === 0 ? word : `\x1b[${code}m${word}\x1b[0m`;
}
