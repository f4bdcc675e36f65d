import { formatIssue } from '../lib/config/index.js';
import { CpeError } from '../lib/errors.js';
import { plan } from '../pe/index.js';
import { EXIT, UsageError, parseCommandArgs, writeLine, type Command } from './command.js';
import { ConfigError, loadPeInput } from './pe-input.js';
import { formatExplanation, formatPlan } from './plan-format.js';

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'run the policy engine on a saved state and print the plan',
  usage: `usage: cpectl simulate [--json] [--explain SERVICE]... [--now MS] [--state FILE] INPUT

Runs the policy engine on INPUT and prints the plan it returns: each action
with what it waits for, the rule that chose it and why. Nothing is carried out.

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

Exit status: 0 planned, 1 bad input, 2 usage error.`,

  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: 'boolean', default: false },
      explain: { type: 'string', multiple: true, default: [] },
      now: { type: 'string' },
      state: { type: 'string' },
    });
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
      if (err instanceof CpeError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
        writeLine(io.stderr, `cpectl simulate: ${(err as Error).message}`);
        return EXIT.failed;
      }
      throw err;
    }
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
