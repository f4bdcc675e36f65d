/**
 * Converts attribute text to numbers. The schema has checked the lexical
 * form; these check ranges and say what is wrong in words. Each returns
 * the value or an Invalid with the reason.
 */
import { SCORE_INFINITY } from './model.js';

export class Invalid {
  constructor(readonly reason: string) {}
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/** "10s", "1m", "500ms", "2h", or a bare number of seconds → milliseconds. */
export function parseDuration(text: string, maxMs: number): number | Invalid {
  const m = /^\s*(\d{1,9}(?:\.\d{1,3})?)\s*(ms|s|sec|m|min|h)?\s*$/.exec(text);
  if (!m) return new Invalid('expected a duration such as 10s, 1m, 500ms or a number of seconds');
  const ms = Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000));
  if (ms <= 0) return new Invalid('must be greater than zero');
  if (ms > maxMs) return new Invalid(`must be at most ${formatDuration(maxMs)}`);
  return ms;
}

/** A duration that may also be zero (a delay, a time from now): `0`, `0s` or as parseDuration. */
export function parseDurationOrZero(text: string, maxMs: number): number | Invalid {
  return /^\s*0+\s*(ms|s|sec|m|min|h)?\s*$/.test(text) ? 0 : parseDuration(text, maxMs);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const NEVER = /^\s*(-1|\+?INFINITY|\+?infinity)\s*$/;

/** escalation_failures: a count ≥ 1, or INFINITY / -1 (null: never escalate). */
export function parseEscalationCount(text: string): number | null | Invalid {
  if (NEVER.test(text)) return null;
  const m = /^\s*(\d{1,9})\s*$/.exec(text);
  if (!m) return new Invalid('expected a number of failures, INFINITY or -1');
  const n = Number(m[1]);
  if (n < 1) return new Invalid('must be at least 1 (INFINITY or -1 to never escalate)');
  return n;
}

/** escalation_period: a duration (bare number = seconds), or INFINITY / -1 (null). */
export function parseEscalationPeriod(text: string, maxMs: number): number | null | Invalid {
  if (NEVER.test(text)) return null;
  return parseDuration(text, maxMs);
}

/** An integer score or [+-]INFINITY, clamped to ±1,000,000 as Pacemaker does. */
export function parseScore(text: string): number | Invalid {
  const t = text.trim();
  const inf = /^([+-]?)(INFINITY|infinity)$/.exec(t);
  if (inf) return inf[1] === '-' ? -SCORE_INFINITY : SCORE_INFINITY;
  if (!/^[+-]?\d{1,7}$/.test(t)) return new Invalid('expected an integer or [+-]INFINITY');
  return Math.max(-SCORE_INFINITY, Math.min(SCORE_INFINITY, Number(t)));
}

export function parseBoolean(text: string): boolean | Invalid {
  const t = text.trim();
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  return new Invalid('expected true or false');
}

export function parseCpu(text: string): number | Invalid {
  const m = /^\s*(\d{1,5}(?:\.\d{1,3})?)\s*$/.exec(text);
  if (!m) return new Invalid('expected a number of CPUs such as 2 or 0.5');
  const n = Number(m[1]);
  if (n <= 0) return new Invalid('must be greater than zero');
  return n;
}

const MEMORY_UNIT_MB: Readonly<Record<string, number>> = {
  k: 1 / 1024,
  m: 1,
  g: 1024,
  t: 1024 * 1024,
};

/** "512" (MiB), "512M", "8G", "1.5GiB" → MiB. */
export function parseMemory(text: string): number | Invalid {
  const m = /^\s*(\d{1,9}(?:\.\d{1,3})?)\s*(?:([KMGTkmgt])(?:i?B)?)?\s*$/.exec(text);
  if (!m) return new Invalid('expected a size such as 512 (MiB), 512M or 8G');
  const mb = Number(m[1]) * (MEMORY_UNIT_MB[(m[2] ?? 'm').toLowerCase()] ?? 1);
  if (mb <= 0) return new Invalid('must be greater than zero');
  return Math.round(mb * 1024) / 1024;
}

/**
 * Escalation text as the original read it (pacemaker-cloud's recover.c):
 * strtol's leading integer after optional blanks and sign; zero, negative or
 * no digits means never. Version 1 only: its tools passed text through as
 * typed ("3x", "1d", "never", "").
 */
export function readOriginalInteger(text: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  if (!m) return null;
  // Beyond a 64-bit long strtol says ERANGE, which the original read as never too.
  if (BigInt(m[1]!) > LONG_MAX) return null;
  const n = Number(m[1]);
  return n > 0 ? n : null;
}

const LONG_MAX = 2n ** 63n - 1n;

/** What a version-1 escalation attribute means, and a note when that surprises. */
export interface OriginalReading {
  readonly value: number | null;
  /** Set when the text seems to say something else (or nothing version 2 could read). */
  readonly note: string | null;
}

/** Words that plainly say "never", as the original read them. */
const SAYS_NEVER = /^\s*(never|none|no|off|)\s*$/i;

export function readOriginalCount(text: string): OriginalReading {
  const value = readOriginalInteger(text);
  const v2 = parseEscalationCount(text);
  if (v2 instanceof Invalid ? value === null && SAYS_NEVER.test(text) : v2 === value)
    return { value, note: null };
  return {
    value,
    note:
      `escalation_failures "${text}" is read as ${value === null ? 'never' : String(value)}, ` +
      'as the original read it (its leading whole number; zero, negative or none is never); ' +
      'schema_version="2" takes a whole number ≥ 1, INFINITY or -1',
  };
}

export function readOriginalPeriod(text: string, maxMs: number): OriginalReading {
  const seconds = readOriginalInteger(text);
  const ms = seconds === null ? null : seconds * 1000;
  const value = ms === null ? null : Math.min(ms, maxMs);
  const v2 = parseEscalationPeriod(text, maxMs);
  const same = v2 instanceof Invalid ? value === null && SAYS_NEVER.test(text) : v2 === value;
  if (same && value === ms) return { value, note: null };
  const read =
    value === null
      ? 'never'
      : value === ms
        ? formatDuration(value)
        : `${formatDuration(value)}, the longest period`;
  const v2says =
    v2 instanceof Invalid
      ? 'schema_version="2" takes a duration with its unit, INFINITY or -1'
      : `with schema_version="2" it means ${v2 === null ? 'never' : formatDuration(v2)}`;
  return {
    value,
    note: `escalation_period "${text}" is read as ${read}, as the original read it (its leading whole number, in seconds); ${v2says}`,
  };
}
