import { formatIssue } from '../lib/config/index.js';
import { CpeError } from '../lib/errors.js';
import { plan } from '../pe/index.js';
import { EXIT, UsageError, parseCommandArgs, writeLine, type Command } from './command.js';
import { ConfigError, loadPeInput } from './pe-input.js';
import { formatExplanation, formatPlan } from './plan-format.js';
import { FAULT_KINDS, parseFault, parseOffset, type SimFault } from '../lib/sim/faults.js';
import { SUMMARY } from './summaries.js';

export const simulateCommand: Command = {
  name: 'simulate',
  summary: SUMMARY.simulate,
  usage: `usage: cpectl simulate [--json] [--explain SERVICE]... [--now MS] [--state FILE] INPUT
       cpectl simulate --run [--fault SPEC]... [--until DURATION] [--json] [--now MS] [--state FILE] INPUT

Runs the policy engine on INPUT and prints the plan it returns: each action
with what it waits for, the rule that chose it and why. Nothing is carried out.

With --run, the DPE's own engine plays INPUT forward in virtual time against
simulated assemblies: plans are carried out, services start, fail, restart
and move, heartbeats are missed, and the timeline is printed until nothing
is left to do (or --until, default 1h of virtual time). --fault injects a
fault: KIND[:TARGET][=DURATION][@TIME], TIME after the start (default 0), e.g.
  --fault silence:web1@10s   --fault fail:rsc_web1_httpd@5s   --fault bus-down@1m
Kinds: ${Object.entries(FAULT_KINDS)
    .map(([k, v]) => `\n  ${k.padEnd(14)} ${v}`)
    .join('')}

INPUT is either a PE input in JSON (as a DPE keeps them: now, bus,
assemblies, services, inFlight, and config — a path to the config XML
relative to INPUT, the XML itself, or a compiled model), or a deployable
config in XML, taken with the state in --state FILE (JSON) or, without it,
with every assembly just beating and nothing running.

  --json             the plan (and explanations) as JSON
  --explain SERVICE  also print the placement scores of SERVICE (a resource
                     id such as rsc_web1_httpd); may be repeated
  --now MS           plan at this time (ms) instead of the input's "now"
  --state FILE       the observed state, for an XML INPUT
  --run              play it forward in virtual time (see above)
  --fault SPEC       a fault to inject while running; may be repeated
  --until DURATION   stop the run after this much virtual time (default 1h)

Exit status: 0 planned, 1 bad input, 2 usage error.`,

  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: 'boolean', default: false },
      explain: { type: 'string', multiple: true, default: [] },
      now: { type: 'string' },
      state: { type: 'string' },
      run: { type: 'boolean', default: false },
      fault: { type: 'string', multiple: true, default: [] },
      until: { type: 'string' },
    });
    if (!values.run && (values.fault.length > 0 || values.until !== undefined))
      throw new UsageError('--fault and --until need --run');
    if (values.run && values.explain.length > 0)
      throw new UsageError('--explain is for a single plan, not --run');
    let faults: SimFault[] = [];
    let limitMs = 3_600_000;
    try {
      faults = values.fault.map(parseFault);
      if (values.until !== undefined) limitMs = parseOffset(values.until, '--until');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (positionals.length !== 1) throw new UsageError('simulate needs exactly one INPUT');
    let now: number | undefined;
    if (values.now !== undefined) {
      now = Number(values.now);
      if (!Number.isFinite(now)) throw new UsageError(`--now: not a time in ms: ${values.now}`);
    }
    let loaded;
    try {
      loaded = await loadPeInput(positionals[0]!, {
        ...(now === undefined ? {} : { now }),
        ...(values.state === undefined ? {} : { state: values.state }),
      });
    } catch (err) {
      if (err instanceof ConfigError) {
        for (const issue of err.issues) writeLine(io.stderr, formatIssue(issue));
        return EXIT.failed;
      }
      throw err; // printed with its code, exit 1
    }
    if (values.run) {
      try {
        // The DPE's engine is loaded only for a run: one plan needs the planner alone.
        const { runSimulation } = await import('./simulate-run.js');
        return await runSimulation(loaded.input, loaded.now, faults, limitMs, values.json, io);
      } catch (err) {
        // By code, not class: the run's modules are loaded apart (under the tests' loader, a second copy).
        if ((err as Partial<CpeError>).code === 'BAD_FAULT')
          throw new UsageError((err as Error).message);
        throw err;
      }
    }
    const ids = loaded.input.config.services.map((x) => x.id);
    for (const id of values.explain)
      if (!ids.includes(id))
        throw new CpeError(
          'NO_SUCH_SERVICE',
          `--explain ${id}: no such service in the config (its services: ${ids.join(', ') || 'none'})`,
        );
    const result = await plan(loaded.input, loaded.now, { explain: values.explain });
    if (values.json) {
      writeLine(
        io.stdout,
        JSON.stringify({ plan: result.plan, explanations: result.explanations }, null, 2),
      );
      return EXIT.ok;
    }
    for (const line of formatPlan(result.plan)) writeLine(io.stdout, line);
    for (const e of result.explanations) {
      writeLine(io.stdout);
      for (const line of formatExplanation(e)) writeLine(io.stdout, line);
    }
    return EXIT.ok;
  },
};
