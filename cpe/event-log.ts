/**
 * The event log: SQLite (better-sqlite3) in the CPE's state directory, in
 * WAL mode. An insert is committed (and, with sync "full", on disk) before
 * it returns, so the CPE acknowledges only what it has stored; the sender's
 * id is unique, so a resent event is stored once. Queries are built from a
 * checked EventQuery: column names come from this file, values are bound.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SEVERITIES } from '../lib/bus/qmf.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { encodeCursor, type EventQuery } from '../lib/events/filter.js';
import { severityRank, type EventEntry, type LoggedEvent } from '../lib/events/record.js';
import type { Logger } from '../lib/log.js';

export interface Retention {
  /** Events older than this are deleted (0: kept whatever their age). */
  readonly maxAgeMs: number;
  /** At most this many are kept, the newest (0: no limit). */
  readonly maxCount: number;
}

export interface EventLogOptions {
  readonly retention: Retention;
  /** full: every commit is fsynced (an acknowledged event survives a power cut); normal: only at checkpoints. */
  readonly sync?: 'full' | 'normal';
  readonly log: Logger;
}

export interface QueryAnswer {
  readonly events: LoggedEvent[];
  /** The next page (newest first), or null when this was the last. */
  readonly nextCursor: string | null;
  /** The newest seq the answer has seen: `after` for the next follow. */
  readonly lastSeq: number;
}

/**
 * What the rest of the CPE needs of an event store: the pipeline stores and
 * queries through this, so another backend (a cluster's) can take its place.
 */
export interface EventStore {
  /** Stores what is new (by id), committed when it returns; the stored ones, numbered. */
  append(entries: readonly EventEntry[], now?: number): LoggedEvent[];
  query(q: EventQuery): QueryAnswer;
  /** The newest seq stored (0 when empty). */
  lastSeq(): number;
  /** Deletes what retention no longer keeps; how many. */
  prune(now?: number): Promise<number>;
  close(): void;
}

interface Row {
  seq: number;
  id: string;
  time: number;
  stored: number;
  deployable: string | null;
  assembly: string | null;
  service: string | null;
  kind: string;
  state: string | null;
  severity: number;
  source: string;
  text: string;
  vals: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  time INTEGER NOT NULL,
  stored INTEGER NOT NULL,
  deployable TEXT,
  assembly TEXT,
  service TEXT,
  kind TEXT NOT NULL,
  state TEXT,
  severity INTEGER NOT NULL,
  source TEXT NOT NULL,
  text TEXT NOT NULL,
  vals TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_deployable ON events (deployable, time);
CREATE INDEX IF NOT EXISTS events_assembly ON events (assembly, time);
CREATE INDEX IF NOT EXISTS events_service ON events (service, time);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, time);
CREATE INDEX IF NOT EXISTS events_severity ON events (severity, time);
`;

/** Rows deleted per step of a prune, so that a large one never stalls the CPE. */
const PRUNE_STEP = 5000;

function rowToEvent(r: Row): LoggedEvent {
  return {
    seq: r.seq,
    id: r.id,
    time: r.time,
    stored: r.stored,
    deployable: r.deployable,
    assembly: r.assembly,
    service: r.service,
    kind: r.kind,
    state: r.state,
    severity: SEVERITIES[r.severity] ?? 'info',
    source: r.source,
    text: r.text,
    values: JSON.parse(r.vals) as Record<string, unknown>,
  };
}

/** The event store of one CPE: SQLite in its state directory. */
export class EventLog implements EventStore {
  readonly #db: Database.Database;
  readonly #o: EventLogOptions;
  readonly #insert: Database.Statement;
  readonly #exists: Database.Statement;
  readonly #insertMany: (entries: readonly EventEntry[], now: number) => LoggedEvent[];
  #pruning = false;

  private constructor(db: Database.Database, o: EventLogOptions) {
    this.#db = db;
    this.#o = o;
    this.#insert = db.prepare(
      `INSERT OR IGNORE INTO events (id, time, stored, deployable, assembly, service, kind, state, severity, source, text, vals)
       VALUES (@id, @time, @stored, @deployable, @assembly, @service, @kind, @state, @severity, @source, @text, @vals)`,
    );
    // Asked first: an ignored insert would still use up a seq (AUTOINCREMENT).
    this.#exists = db.prepare('SELECT 1 FROM events WHERE id = ?').pluck();
    this.#insertMany = db.transaction((entries: readonly EventEntry[], now: number) => {
      const added: LoggedEvent[] = [];
      for (const e of entries) {
        if (this.#exists.get(e.id) !== undefined) continue;
        const row = {
          ...e,
          stored: now,
          severity: severityRank(e.severity),
          vals: JSON.stringify(e.values),
        };
        const r = this.#insert.run(row);
        if (r.changes === 1) added.push({ ...e, seq: Number(r.lastInsertRowid), stored: now });
      }
      return added;
    });
  }

  /** Opens (or creates) `events.db` in dir; a file SQLite cannot read is EVENT_LOG_UNUSABLE. */
  static open(dir: string, o: EventLogOptions): EventLog {
    const file = join(dir, 'events.db');
    try {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${o.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      return new EventLog(db, o);
    } catch (err) {
      throw new CpeError(
        'EVENT_LOG_UNUSABLE',
        `${file}: ${errorMessage(err)} (move the file away to start a new event log)`,
      );
    }
  }

  /** Stores what is new (by id); returns the stored ones, numbered. Committed when it returns. */
  append(entries: readonly EventEntry[], now = Date.now()): LoggedEvent[] {
    return entries.length === 0 ? [] : this.#insertMany(entries, now);
  }

  /** The newest seq stored (0 when empty). */
  lastSeq(): number {
    const r = this.#db.prepare('SELECT max(seq) AS seq FROM events').get() as {
      seq: number | null;
    };
    return r.seq ?? 0;
  }

  count(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  query(q: EventQuery): QueryAnswer {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const eq = (column: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      params.push(value);
    };
    eq('deployable', q.deployable);
    eq('assembly', q.assembly);
    eq('service', q.service);
    eq('kind', q.kind);
    eq('state', q.state);
    if (q.severity !== undefined) {
      where.push('severity <= ?');
      params.push(severityRank(q.severity));
    }
    if (q.since !== undefined) {
      where.push('time >= ?');
      params.push(q.since);
    }
    if (q.until !== undefined) {
      where.push('time <= ?');
      params.push(q.until);
    }
    if (q.text !== undefined) {
      where.push("text LIKE ? ESCAPE '\\'");
      params.push(`%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    const last = this.lastSeq();
    let order: string;
    if (q.follow) {
      where.push('seq > ?');
      params.push(q.after ?? last);
      order = 'seq ASC';
    } else {
      if (q.cursor) {
        where.push('(time < ? OR (time = ? AND seq < ?))');
        params.push(q.cursor.time, q.cursor.time, q.cursor.seq);
      }
      order = 'time DESC, seq DESC';
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
    const rows = this.#db.prepare(sql).all(...params, q.limit) as Row[];
    const events = rows.map(rowToEvent);
    const end = events.at(-1);
    const full = events.length === q.limit && end !== undefined;
    return {
      events,
      nextCursor: !q.follow && full ? encodeCursor(end.time, end.seq) : null,
      // A follow that filled its page goes on from its last event, not from the newest.
      lastSeq: q.follow ? (full ? end.seq : Math.max(last, end?.seq ?? 0)) : last,
    };
  }

  /**
   * Deletes what retention no longer keeps, a step at a time between other
   * work; resolves with how many were deleted.
   */
  async prune(now = Date.now()): Promise<number> {
    if (this.#pruning) return 0;
    this.#pruning = true;
    const { maxAgeMs, maxCount } = this.#o.retention;
    let deleted = 0;
    try {
      const step = (sql: string, bound: number): number =>
        this.#db
          .prepare(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ${sql} LIMIT ?)`)
          .run(bound, PRUNE_STEP).changes;
      for (;;) {
        let n = 0;
        if (maxAgeMs > 0) n += step('time < ?', now - maxAgeMs);
        if (maxCount > 0) n += step('seq <= ?', this.lastSeq() - maxCount);
        deleted += n;
        if (n === 0) break;
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.#pruning = false;
    }
    if (deleted > 0) this.#o.log.info('old events deleted', { deleted });
    return deleted;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
