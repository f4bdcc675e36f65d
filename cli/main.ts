#!/usr/bin/env node
// cpectl: the operators' command line. This file only wires commands together.
import { runCli } from './run.js';
import { busPasswordCommand } from './bus-password.js';
import {
  createCommand,
  destroyCommand,
  listCommand,
  startCommand,
  statusCommand,
  stopCommand,
  updateCommand,
} from './deployable.js';
import { eventsCommand } from './events.js';
import { faultCommand } from './fault.js';
import { showCommand } from './show.js';
import { simulateCommand } from './simulate.js';
import { validateCommand } from './validate.js';

const commands = [
  validateCommand,
  showCommand,
  simulateCommand,
  createCommand,
  updateCommand,
  destroyCommand,
  listCommand,
  statusCommand,
  eventsCommand,
  startCommand,
  stopCommand,
  faultCommand,
  busPasswordCommand,
];

// `cpectl show … | head`: a reader that went away is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await runCli(process.argv.slice(2), commands, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
