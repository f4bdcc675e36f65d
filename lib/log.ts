/**
 * One logger factory for every daemon and tool. Loggers are created once in
 * a main.ts and injected; `child()` adds context (deployable, action id, …)
 * that every line then carries.
 *
 * Under systemd, when stderr is the journal stream (JOURNAL_STREAM names its
 * device:inode), lines get the `<N>` syslog priority prefix journald reads
 * and no timestamp (journald adds its own).
 */
import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';
import { isoTime } from './clock.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogMeta = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  error(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
  child(meta: LogMeta): Logger;
  /** Changes the level of this logger and every child (SIGHUP reloads it). */
  setLevel(level: LogLevel): void;
}

export type LogFormat = 'journal' | 'text' | 'json';

export interface LoggerOptions {
  /** The program, e.g. "cpe"; every line carries it. */
  readonly name: string;
  readonly level?: LogLevel;
  /** Default: journal when stderr is the journal stream, text otherwise. */
  readonly format?: LogFormat;
  /** Default: process.stderr. */
  readonly stream?: NodeJS.WritableStream;
}

const LEVELS: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };
/** syslog priorities: err, warning, info, debug. */
const PRIORITY: Readonly<Record<LogLevel, number>> = { error: 3, warn: 4, info: 6, debug: 7 };

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVELS;
}

/** True when our stderr is the stream systemd connected to the journal. */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const expected = env.JOURNAL_STREAM;
  if (!expected) return false;
  try {
    const st = fstatSync(2);
    return expected === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? (stderrIsJournal() ? 'journal' : 'text');
  const stream = options.stream ?? process.stderr;
  const logger = winston.createLogger({
    levels: LEVELS,
    level: options.level ?? 'info',
    defaultMeta: { program: options.name },
    format: FORMATS[format],
    transports: [new winston.transports.Stream({ stream })],
  });
  return wrap(logger);
}

function wrap(logger: winston.Logger): Logger {
  return {
    error: (message, meta) => void logger.log('error', message, meta),
    warn: (message, meta) => void logger.log('warn', message, meta),
    info: (message, meta) => void logger.log('info', message, meta),
    debug: (message, meta) => void logger.log('debug', message, meta),
    child: (meta) => wrap(logger.child(meta)),
    setLevel: (level) => void (logger.level = level),
  };
}

const RESERVED = new Set(['level', 'message', 'program', 'timestamp']);

/** key=value pairs in a stable order; values with spaces or quotes are quoted. */
function logfmt(info: winston.Logform.TransformableInfo): string {
  const parts: string[] = [];
  for (const key of Object.keys(info).sort()) {
    const value: unknown = info[key];
    if (RESERVED.has(key) || value === undefined) continue;
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
    parts.push(`${key}=${/[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text}`);
  }
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}

/** logform's timestamp, written by isoTime. */
const timestamp = (): winston.Logform.Format =>
  winston.format.timestamp({ format: () => isoTime(Date.now()) });

const FORMATS: Readonly<Record<LogFormat, winston.Logform.Format>> = {
  journal: winston.format.printf(
    (info) => `<${PRIORITY[info.level as LogLevel] ?? 6}>${String(info.message)}${logfmt(info)}`,
  ),
  text: winston.format.combine(
    timestamp(),
    winston.format.printf(
      (info) =>
        `${String(info.timestamp)} ${String(info.program)} ${info.level.toUpperCase()} ${String(info.message)}${logfmt(info)}`,
    ),
  ),
  json: winston.format.combine(timestamp(), winston.format.json()),
};

/** A logger that drops everything: for tests and tools that must stay quiet. */
export function silentLogger(): Logger {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  return createLogger({ name: 'silent', stream: sink, format: 'json' });
}
