/**
 * cpectl's deployable commands: the CPE's management API (schemas/cpe-api.md)
 * from the command line. Configs are checked here first, so that a typo is
 * shown with its line before anything is sent.
 */
import { createReadStream } from 'node:fs';
import type { QmfMap } from '../lib/bus/qmf.js';
import { formatIssue, IssueList, parseDeployableConfig } from '../lib/config/index.js';
import { unreadable } from '../lib/files.js';
import { decodeConfig } from '../lib/config/source.js';
import {
  EXIT,
  UsageError,
  parseCommandArgs,
  readBounded,
  writeLine,
  type Command,
  type Io,
} from './command.js';
import { CONFIG_OPTIONS, maxBytesOption } from './config-input.js';
import { checkedName, remoteCommand, type Remote } from './remote.js';
import { allStatuses, printOverview } from './overview.js';
import { colours, printMap, printTable, show } from './table.js';
import { SUMMARY } from './summaries.js';

const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;

/** The command's one NAME, checked, and its options' values. */
function onePositional<T extends Parameters<typeof parseCommandArgs>[1]>(
  args: readonly string[],
  what: string,
  options: T,
) {
  const { values, positionals } = parseCommandArgs(args, options);
  if (positionals.length !== 1) throw new UsageError(`needs exactly one ${what}`);
  return { value: checkedName(positionals[0]!), values };
}

/** Reads, checks and decodes a config; prints its problems and returns null when refused. */
async function configText(
  args: readonly string[],
  io: Io,
): Promise<{ name: string; text: string; json: boolean } | null> {
  const { values, positionals } = parseCommandArgs(args, {
    ...CONFIG_OPTIONS,
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new UsageError('needs exactly one FILE ("-" for stdin)');
  const file = positionals[0]!;
  const label = file === '-' ? '<stdin>' : file;
  const maxBytes = maxBytesOption(values['max-size']);
  // One byte past the limit is enough to refuse without reading a flood.
  const bytes = await readBounded(
    file === '-' ? io.stdin : createReadStream(file),
    maxBytes + 1,
  ).catch((err: unknown) => {
    throw unreadable(file, err, 'CONFIG_UNREADABLE');
  });
  const result = await parseDeployableConfig(bytes, { file: label, maxBytes });
  for (const issue of result.ok ? result.warnings : result.issues)
    writeLine(io.stderr, formatIssue(issue));
  if (!result.ok) return null;
  // What the CPE stores: the text as checked (a declared encoding becomes UTF-8).
  const text = decodeConfig(bytes, maxBytes, new IssueList(label));
  return text === null ? null : { name: result.config.name, text, json: values.json };
}

const createOrUpdate = (verb: 'create' | 'update'): Command =>
  remoteCommand(
    verb,
    SUMMARY[verb],
    `usage: cpectl ${verb} [--json] [--max-size BYTES] FILE

${
  verb === 'create'
    ? `Sends the config (XML; "-" reads standard input) to the CPE, which stores it
and starts the deployable's DPE. The name is the config's. A repeated create
with the same config changes nothing; with another config it is refused
(use update).`
    : `Sends the new config to the CPE, which stores it as the next generation and
tells the running DPE to fetch it. The same config again changes nothing.`
}
The config is checked here first; its problems are printed as cpectl
validate prints them, and nothing is sent.

Exit status: 0 done (or nothing to do), 1 refused or unreachable, 2 usage error.`,
    async (args, io) => {
      const config = await configText(args, io);
      if (config === null) return EXIT.failed;
      return async (remote) => {
        const r = await remote.call(`deployable_${verb}`, {
          name: config.name,
          config: config.text,
        });
        const did = verb === 'create' ? r.created : r.changed;
        if (config.json) {
          writeLine(io.stdout, JSON.stringify(r, null, 2));
          return EXIT.ok;
        }
        writeLine(
          io.stdout,
          did
            ? `${show(r.name)}: ${verb}d, generation ${show(r.generation)}`
            : `${show(r.name)}: unchanged (generation ${show(r.generation)})`,
        );
        return EXIT.ok;
      };
    },
  );

export const createCommand = createOrUpdate('create');
export const updateCommand = createOrUpdate('update');

export const destroyCommand = remoteCommand(
  'destroy',
  SUMMARY.destroy,
  `usage: cpectl destroy [--json] NAME

Answers once the deployable's DPE has stopped. Destroying a deployable that
does not exist is not an error (it says so).`,
  (args, io) => {
    const { value: name, values } = onePositional(args, 'NAME', JSON_OPTION);
    const json = values.json;
    return async (remote) => {
      const r = await remote.call('deployable_destroy', { name });
      if (json) {
        writeLine(io.stdout, JSON.stringify(r, null, 2));
        return EXIT.ok;
      }
      writeLine(io.stdout, `${name}: ${r.destroyed ? 'destroyed' : 'no such deployable'}`);
      return EXIT.ok;
    };
  },
);

export const listCommand = remoteCommand(
  'list',
  SUMMARY.list,
  `usage: cpectl list [--json]

One line per deployable: NAME, DESIRED (running or stopped), GENERATION, its
DPE (the supervisor's state of it, and READY when it runs the stored
generation), and what the DPE last said of the deployable: its STATE
(starting, running, degraded, down), ASSEMBLIES up of all and SERVICES
running of all. "-" where the DPE has not said yet. In a cluster, OWNER is
the CPE that runs the DPE. --json adds the uuid.`,
  (args, io) => {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: 'boolean', default: false },
    });
    if (positionals.length > 0) throw new UsageError('list takes no arguments');
    return async (remote) => {
      const { deployables } = (await remote.call('deployable_list')) as {
        deployables: QmfMap[];
      };
      if (values.json) {
        writeLine(io.stdout, JSON.stringify(deployables, null, 2));
        return EXIT.ok;
      }
      const of = (n: unknown, total: unknown): string =>
        typeof n === 'number' && typeof total === 'number' ? `${n}/${total}` : '-';
      // A cluster's CPEs say which member runs each DPE.
      const cluster = deployables.some((d) => 'owner' in d);
      const owner = (d: QmfMap): string[] =>
        cluster ? [d.owner === null || d.owner === undefined ? '-' : show(d.owner)] : [];
      printTable(io, [
        [
          'NAME',
          'DESIRED',
          'GENERATION',
          'DPE',
          ...(cluster ? ['OWNER'] : []),
          'READY',
          'STATE',
          'ASSEMBLIES',
          'SERVICES',
        ],
        ...deployables.map((d) => [
          show(d.name),
          show(d.desired),
          show(d.generation),
          show(d.dpe_state),
          ...owner(d),
          d.dpe_ready === true ? 'yes' : 'no',
          d.state === null || d.state === undefined ? '-' : show(d.state),
          of(d.assemblies_up, d.assemblies),
          of(d.services_running, d.services),
        ]),
      ]);
      return EXIT.ok;
    };
  },
);

export const statusCommand = remoteCommand(
  'status',
  SUMMARY.status,
  `usage: cpectl status [--json] [--wait] NAME
       cpectl status [--json]

Without a NAME: every deployable on one screen, each assembly with its
health and the services placed there (colour on a terminal); exit status 0
when every DPE is ready (or its deployable stopped), 1 otherwise.

With a NAME: shows the stored generation and desired state, which supervisor runs the DPE,
its state and pid, whether it is ready (running the stored generation and
beating), and what the DPE says: the deployable's state, each assembly
(health, last heartbeat, missed beats, agent epoch) and each service (where
it runs, its state, recent failures, the action in flight). Exit status 0
when the DPE is ready or the deployable is stopped, 1 otherwise (so scripts
can wait on it).

  --wait   wait (within --timeout) until the deployable is where it should be:
           its DPE ready and every service running on an assembly that is up
           (or, stopped, its DPE gone); on a terminal, progress on stderr.
           Exit 0 when it is, 1 when --timeout ran out first.`,
  (args, io) => {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
    });
    if (positionals.length > 1) throw new UsageError('takes at most one NAME');
    const well = (s: QmfMap): boolean => s.dpe_ready === true || s.desired === 'stopped';
    if (positionals.length === 0) {
      if (values.wait) throw new UsageError('--wait needs a NAME');
      return async (remote) => {
        const all = await allStatuses(remote);
        if (values.json) writeLine(io.stdout, JSON.stringify(all, null, 2));
        else printOverview(io, all, colours(io.stdout));
        return all.every(well) ? EXIT.ok : EXIT.failed;
      };
    }
    const name = checkedName(positionals[0]!);
    const print = (s: QmfMap): void => {
      if (values.json) writeLine(io.stdout, JSON.stringify(s, null, 2));
      else printStatus(io, s);
    };
    return async (remote) => {
      if (!values.wait) {
        const s = await remote.call('deployable_status', { name });
        print(s);
        return well(s) ? EXIT.ok : EXIT.failed;
      }
      const s = await waitSettled(remote, name, io);
      print(s.status);
      if (!s.settled)
        writeLine(io.stderr, `cpectl status: ${name} is not there yet: ${progressOf(s.status)}`);
      return s.settled ? EXIT.ok : EXIT.failed;
    };
  },
);

/** Where it should be: stopped with no DPE, or running with its DPE ready and every service up. */
function settled(s: QmfMap): boolean {
  if (s.desired === 'stopped') return s.dpe_state === 'inactive' || s.dpe_state === 'failed';
  return s.dpe_ready === true && s.state === 'running';
}

function progressOf(s: QmfMap): string {
  if (s.desired === 'stopped') return `stopping: DPE ${show(s.dpe_state)}`;
  const dpe = `DPE ${show(s.dpe_state)}${s.dpe_ready === true ? ', ready' : ', not ready'}`;
  return s.state === null ? dpe : `${dpe}; ${show(s.state)}: ${show(s.state_reason)}`;
}

/** Polls the status until it settles or the command's time runs out; progress on a terminal. */
async function waitSettled(
  remote: Remote,
  name: string,
  io: Io,
): Promise<{ status: QmfMap; settled: boolean }> {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true && process.env.TERM !== 'dumb';
  let shown = '';
  try {
    for (;;) {
      const s = await remote.call('deployable_status', { name });
      if (settled(s)) return { status: s, settled: true };
      const line = `waiting for ${name}: ${progressOf(s)}`;
      if (tty && line !== shown) io.stderr.write(`\r\x1b[K${line.slice(0, 200)}`);
      shown = line;
      if (remote.leftMs() < 600) return { status: s, settled: false };
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    if (tty && shown) io.stderr.write('\r\x1b[K');
  }
}

const DETAIL = ['assemblies', 'services', 'in_flight'];

function printStatus(io: Io, s: QmfMap): void {
  printMap(io, Object.fromEntries(Object.entries(s).filter(([k]) => !DETAIL.includes(k))));
  const assemblies = (s.assemblies ?? []) as QmfMap[];
  if (assemblies.length > 0) {
    writeLine(io.stdout);
    printTable(io, [
      ['ASSEMBLY', 'HEALTH', 'LAST HEARTBEAT', 'MISSED', 'EPOCH', 'REASON'],
      ...assemblies.map((a) => [
        show(a.name),
        show(a.health),
        a.last_heartbeat instanceof Date ? a.last_heartbeat.toISOString() : '-',
        show(a.missed_beats),
        typeof a.epoch === 'string' ? a.epoch.slice(0, 8) : '-',
        show(a.reason),
      ]),
    ]);
  }
  const services = (s.services ?? []) as QmfMap[];
  if (services.length > 0) {
    writeLine(io.stdout);
    printTable(io, [
      ['SERVICE', 'STATE', 'WHERE', 'FAILURES', 'ACTION'],
      ...services.map((x) => {
        const failures = Array.isArray(x.failures) ? x.failures : [];
        const last = failures.at(-1);
        const action = x.in_flight as QmfMap | null;
        return [
          show(x.id),
          show(x.state),
          x.assembly === null ? '-' : show(x.assembly),
          failures.length === 0
            ? '-'
            : `${failures.length} (last ${last instanceof Date ? last.toISOString() : show(last)})`,
          action
            ? `${show(action.type)} ${show(action.id)}`
            : x.blocked
              ? `blocked: ${show(x.blocked)}`
              : '-',
        ];
      }),
    ]);
  }
}

/** The original API's start and stop, which name the deployable by name and uuid. */
const startOrStop = (verb: 'start' | 'stop'): Command =>
  remoteCommand(
    verb,
    SUMMARY[verb],
    `usage: cpectl ${verb} [--json] [--uuid UUID] [--monitor NAME] NAME

${verb === 'start' ? 'Sets' : 'Stops'} the deployable ${verb === 'start' ? 'running: the CPE starts its DPE' : 'and its DPE; cpectl start sets it running again'}.
Answers once the DPE has ${verb === 'start' ? 'been started' : 'stopped'}.

  --uuid UUID     the deployable's uuid, as the original's client gave it
                  (default: the stored one)${
                    verb === 'start'
                      ? `; with a NAME the CPE does not have,
                  it creates it from its hand-off file, original.configDir/UUID.xml`
                      : ''
                  }
  --monitor NAME  the original's monitor argument: active, passive, or a unit
                  template (schemas/cpe-api.md)`,
    (args, io) => {
      const { value: name, values } = onePositional(args, 'NAME', {
        ...JSON_OPTION,
        uuid: { type: 'string' },
        monitor: { type: 'string' },
      });
      const json = values.json;
      return async (remote) => {
        const uuid = values.uuid ?? show((await remote.call('deployable_status', { name })).uuid);
        const r = await remote.call(`deployable_${verb}`, {
          name,
          uuid,
          ...(values.monitor === undefined ? {} : { monitor: values.monitor }),
        });
        if (json) writeLine(io.stdout, JSON.stringify({ name, ...r }, null, 2));
        if (r.rc !== 0) {
          writeLine(io.stderr, `cpectl ${verb}: ${name}: rc ${show(r.rc)} ${show(r.reason ?? '')}`);
          return EXIT.failed;
        }
        if (!json) writeLine(io.stdout, `${name}: ${verb === 'start' ? 'running' : 'stopped'}`);
        return EXIT.ok;
      };
    },
  );

export const startCommand = startOrStop('start');
export const stopCommand = startOrStop('stop');
