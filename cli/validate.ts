import { formatIssue, type ConfigIssue } from '../lib/config/index.js';
import { EXIT, UsageError, parseCommandArgs, writeLine, type Command } from './command.js';
import { CONFIG_OPTIONS, maxBytesOption, parseConfigArg } from './config-input.js';
import { SUMMARY } from './summaries.js';

interface FileReport {
  readonly file: string;
  readonly ok: boolean;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

export const validateCommand: Command = {
  name: 'validate',
  summary: SUMMARY.validate,
  usage: `usage: cpectl validate [--json] [--max-size BYTES] FILE...

Checks each deployable config (XML; "-" reads standard input) against its
schema and the semantic rules, and prints "FILE: ok" or each problem as
FILE:LINE: <element>: message [CODE]. Warnings are printed but do not fail.

  --json            print a JSON array: [{file, ok, errors, warnings}]
  --max-size BYTES  refuse configs larger than this (default 4M)

Exit status: 0 all valid, 1 any invalid or unreadable, 2 usage error.`,

  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: 'boolean', default: false },
      ...CONFIG_OPTIONS,
    });
    if (positionals.length === 0) throw new UsageError('validate needs at least one FILE');
    const maxBytes = maxBytesOption(values['max-size']);
    const reports: FileReport[] = [];
    for (const file of positionals) {
      const result = await parseConfigArg(file, maxBytes, io);
      const issues = result.ok ? result.warnings : result.issues;
      reports.push({
        file: file === '-' ? '<stdin>' : file,
        ok: result.ok,
        errors: issues.filter((i) => i.severity === 'error'),
        warnings: issues.filter((i) => i.severity === 'warning'),
      });
    }
    if (values.json) {
      writeLine(io.stdout, JSON.stringify(reports, null, 2));
    } else {
      for (const r of reports) {
        for (const issue of [...r.errors, ...r.warnings]) writeLine(io.stdout, formatIssue(issue));
        if (r.ok) writeLine(io.stdout, `${r.file}: ok`);
      }
    }
    return reports.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
  },
};
