/**
 * `cpectl fault`: drives a simulated assembly's fault injector over the bus
 * (the `fault` object of `cpe-agent --simulate`, schemas/agent-api.md).
 */
import { agentNode, FAULT_OBJECT } from '../lib/addresses.js';
import { qmfText, type QmfMap } from '../lib/bus/qmf.js';
import { NAME_PATTERN } from '../lib/config/index.js';
import { formatDuration, Invalid, parseDurationOrZero } from '../lib/config/values.js';
import { EXIT, UsageError, parseCommandArgs, writeLine, type Command } from './command.js';
import { checkedName, REMOTE_HELP, remoteOptions, withCpe } from './remote.js';
import { SUMMARY } from './summaries.js';

const NAME = NAME_PATTERN;

const FAULT_USAGE = `usage: cpectl fault --deployable NAME ASSEMBLY WHAT [ARG]

Injects a fault into a simulated assembly (cpe-agent --simulate) through its
fault injector on the bus, and prints the assembly's state after it.

  silence | resume           stop heartbeating (the agent still answers) / beat again
  fail SERVICE [once|always|clear]
                             SERVICE crashes once (default), fails every start
                             and monitor, or is healthy again
  hang SERVICE | unhang SERVICE
                             SERVICE's monitor never answers / answers again
  slow DURATION              every answer takes DURATION longer (0 ends it)
  restart                    the agent restarts: a new epoch, services keep running
  partition | heal           neither send nor receive / end the partition
  state                      only print the assembly's state

SERVICE is a resource id such as rsc_web1_httpd.

Exit status: 0 done, 1 refused or unreachable, 2 usage error.`;

function request(what: string, rest: readonly string[]): { method: string; args: QmfMap } {
  const arg = rest[0];
  const service = (): string => {
    if (arg === undefined || !NAME.test(arg))
      throw new UsageError(`${what} needs a SERVICE (resource id)`);
    return arg;
  };
  const expect = (n: number): void => {
    if (rest.length > n) throw new UsageError(`${what}: unexpected ${rest[n]!}`);
  };
  switch (what) {
    case 'silence':
    case 'resume':
      expect(0);
      return { method: 'heartbeat', args: { enabled: what === 'resume' } };
    case 'fail': {
      expect(2);
      const mode = rest[1] ?? 'once';
      if (!['once', 'always', 'clear'].includes(mode))
        throw new UsageError(`fail: mode must be once, always or clear, not ${mode}`);
      return { method: 'fail', args: { resource: service(), mode } };
    }
    case 'hang':
    case 'unhang':
      expect(1);
      return { method: 'hang', args: { resource: service(), enabled: what === 'hang' } };
    case 'slow': {
      expect(1);
      if (arg === undefined) throw new UsageError('slow needs a DURATION (e.g. 2s; 0 ends it)');
      const ms = parseDurationOrZero(arg, 3_600_000);
      if (ms instanceof Invalid) throw new UsageError(`slow ${arg}: ${ms.reason}`);
      return { method: 'slow', args: { delay_ms: ms } };
    }
    case 'restart':
    case 'state':
      expect(0);
      return { method: what, args: {} };
    case 'partition':
    case 'heal':
      expect(0);
      return { method: 'partition', args: { enabled: what === 'partition' } };
    default:
      throw new UsageError(`unknown fault "${what}"`);
  }
}

export const faultCommand: Command = {
  name: 'fault',
  summary: SUMMARY.fault,
  usage: `${FAULT_USAGE}\n\n${REMOTE_HELP}`,
  async run(args, io) {
    const options = remoteOptions(args);
    const { values, positionals } = parseCommandArgs(options.rest, {
      deployable: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (values.deployable === undefined)
      throw new UsageError(
        '--deployable NAME is required (the deployable the assembly belongs to)',
      );
    const deployable = checkedName(values.deployable);
    const [assembly, what, ...rest] = positionals;
    if (assembly === undefined || what === undefined)
      throw new UsageError('needs an ASSEMBLY and what to do to it');
    checkedName(assembly, 'assembly');
    const { method, args: callArgs } = request(what, rest);
    return withCpe(options, async (remote) => {
      const s = await remote.callAt(
        { address: agentNode(deployable, assembly), object: FAULT_OBJECT },
        method,
        callArgs,
      );
      if (values.json) {
        writeLine(io.stdout, JSON.stringify(s, null, 2));
        return EXIT.ok;
      }
      const flags = [
        s.heartbeating === true ? 'beating' : 'silent',
        s.partitioned === true ? 'partitioned' : '',
        typeof s.delay_ms === 'number' && s.delay_ms > 0
          ? `answers ${formatDuration(s.delay_ms)} late`
          : '',
      ].filter(Boolean);
      writeLine(io.stdout, `${assembly}: ${flags.join(', ')}; epoch ${qmfText(s.epoch)}`);
      for (const x of (s.services ?? []) as QmfMap[])
        writeLine(
          io.stdout,
          `  ${qmfText(x.resource)}  ${qmfText(x.state)}${x.fault ? `  (${qmfText(x.fault)})` : ''}`,
        );
      return EXIT.ok;
    });
  },
};
