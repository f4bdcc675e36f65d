/**
 * `cpectl events`: the CPE's event log (events_query), with the filters the
 * QMF and HTTP APIs take; --follow keeps printing events as they are
 * stored, across a restart of the CPE, until interrupted.
 */
import type { QmfMap } from '../lib/bus/qmf.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { EVENT_FILTERS, MAX_WAIT_MS } from '../lib/events/filter.js';
import { EXIT, UsageError, parseCommandArgs, writeLine, type Io } from './command.js';
import { checkedName, remoteCommand, type Remote } from './remote.js';
import { colours, paint, show } from './table.js';
import { SUMMARY } from './summaries.js';

/** The filters given as --name VALUE (follow, after and wait_ms are cpectl's business). */
const FLAGS = [
  'deployable',
  'assembly',
  'service',
  'kind',
  'state',
  'severity',
  'since',
  'until',
  'text',
  'limit',
  'cursor',
] as const;

const WAIT_MS = 20_000;
/** A follow call that outlives its wait this much is lost: ask again. */
const CALL_SLACK_MS = 10_000;
/** Codes after which a follow tries again (the CPE restarting, the bus away). */
const PASSING = new Set(['BUS_DOWN', 'BUS_CLOSED', 'CALL_TIMEOUT', 'NO_ROUTE']);

const filterHelp = FLAGS.map(
  (f) =>
    `  --${f} ${EVENT_FILTERS[f].type === 'integer' ? 'N' : 'VALUE'}\n      ${EVENT_FILTERS[f].description}`,
).join('\n');

function line(e: QmfMap, colour: boolean): string {
  const time = e.time instanceof Date ? e.time.toISOString() : show(e.time);
  const severity = show(e.severity);
  return `${time}  ${paint(severity, colour)}${' '.repeat(Math.max(1, 7 - severity.length))}${show(e.deployable ?? '-')}  ${show(e.text)}`;
}

export const eventsCommand = remoteCommand(
  'events',
  SUMMARY.events,
  `usage: cpectl events [FILTERS] [--follow] [--json] [DEPLOYABLE]

The stored events that match every filter given, oldest of the page first
(the page is the newest --limit, default 100); when there are older ones,
stderr says how to ask for them (--cursor). A DEPLOYABLE alone is
--deployable DEPLOYABLE.

${filterHelp}
  --follow
      after the page, print each matching event as it is stored, until
      interrupted; waits out a restart of the CPE
  --json
      one JSON object per event and line

Exit status 0 shown, 1 refused (a bad filter: BAD_FILTER) or unreachable,
2 usage error.`,
  (args, io) => {
    const { values, positionals } = parseCommandArgs(args, {
      ...Object.fromEntries(FLAGS.map((f) => [f, { type: 'string' as const }])),
      follow: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length > 1) throw new UsageError('takes at most one DEPLOYABLE');
    const filters: QmfMap = {};
    for (const f of FLAGS) {
      const v = (values as Record<string, unknown>)[f];
      if (typeof v !== 'string') continue;
      if (EVENT_FILTERS[f].type === 'integer') {
        if (!/^\d{1,9}$/.test(v)) throw new UsageError(`--${f} needs a whole number`);
        filters[f] = Number(v);
      } else filters[f] = v;
    }
    if (positionals[0] !== undefined) {
      if (filters.deployable !== undefined)
        throw new UsageError('a DEPLOYABLE and --deployable: give one');
      filters.deployable = checkedName(positionals[0]);
    }
    if (values.follow && filters.cursor !== undefined)
      throw new UsageError('--cursor pages back; --follow goes forward: not both');
    const colour = !values.json && colours(io.stdout);
    const print = (e: QmfMap): void =>
      writeLine(io.stdout, values.json ? JSON.stringify(e) : line(e, colour));
    return async (remote) => {
      const page = await remote.call('events_query', filters);
      const events = (page.events ?? []) as QmfMap[];
      for (const e of [...events].reverse()) print(e);
      if (!values.follow) {
        if (typeof page.next_cursor === 'string')
          writeLine(io.stderr, `(older events: cpectl events --cursor ${page.next_cursor} …)`);
        return EXIT.ok;
      }
      // Paging is the first answer's business; the follow takes the rest.
      const rest = Object.fromEntries(
        Object.entries(filters).filter(([k]) => k !== 'limit' && k !== 'cursor'),
      );
      return follow(remote, rest, Number(page.last_seq), print, io);
    };
  },
  // --follow runs until interrupted: only each call is bounded.
  (args) => (args.includes('--follow') ? Infinity : undefined),
);

async function follow(
  remote: Remote,
  filters: QmfMap,
  after: number,
  print: (e: QmfMap) => void,
  io: Io,
): Promise<number> {
  let away = false;
  // Until interrupted, or until a --timeout given runs out (then it is done: exit 0).
  for (;;) {
    // Within what is left of a --timeout, so that it ends on time and not with an error.
    const wait = Math.min(WAIT_MS, remote.leftMs() - 1000);
    if (wait <= 0) break;
    try {
      const r = await remote.call(
        'events_query',
        { ...filters, follow: true, after, wait_ms: Math.min(wait, MAX_WAIT_MS) },
        wait + CALL_SLACK_MS,
      );
      if (away) writeLine(io.stderr, '(the CPE answers again)');
      away = false;
      for (const e of (r.events ?? []) as QmfMap[]) print(e);
      after = Number(r.last_seq);
    } catch (err) {
      if (!(err instanceof CpeError) || !PASSING.has(err.code)) throw err;
      if (!away) writeLine(io.stderr, `(waiting for the CPE: ${errorMessage(err)})`);
      away = true;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, remote.leftMs()))));
    }
  }
  return EXIT.ok;
}
