#!/usr/bin/env node
// cpectl: the operators' command line. This file only wires commands together.
import { COMMANDS } from './commands.js';
import { runCli } from './run.js';

// `cpectl show … | head`: a reader that went away is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await runCli(process.argv.slice(2), COMMANDS, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
