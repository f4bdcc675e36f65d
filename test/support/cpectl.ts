// Runs cpectl in-process with captured output, for the CLI tests.
import { PassThrough, Readable } from 'node:stream';
import type { Command } from '../../cli/command.js';
import { runCli } from '../../cli/run.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCommands(
  commands: readonly Command[],
  args: readonly string[],
  stdin = '',
): Promise<CliResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  const collect = (s: PassThrough): (() => string) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    return () => Buffer.concat(chunks).toString();
  };
  const stdout = collect(out);
  const stderr = collect(err);
  const code = await runCli(args, commands, {
    stdout: out,
    stderr: err,
    stdin: Readable.from([Buffer.from(stdin)]),
  });
  return { code, stdout: stdout(), stderr: stderr() };
}
