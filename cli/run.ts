import { CpeError, errorMessage } from '../lib/errors.js';
import { packageVersion } from '../lib/paths.js';
import { EXIT, loaded, UsageError, writeLine, type CommandEntry, type Io } from './command.js';

/** Dispatches `cpectl COMMAND ARGS…` to one of `commands`. */
export async function runCli(
  argv: readonly string[],
  commands: readonly CommandEntry[],
  io: Io,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    writeLine(io.stdout, `cpectl ${packageVersion()}`);
    return EXIT.ok;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) {
      writeLine(io.stderr, overview(commands));
      return EXIT.usage;
    }
    const topic = args[0];
    if (topic === undefined) {
      writeLine(io.stdout, overview(commands));
      return EXIT.ok;
    }
    const entry = commands.find((c) => c.name === topic);
    if (!entry) return unknownCommand(io, topic);
    writeLine(io.stdout, (await loaded(entry)).usage);
    return EXIT.ok;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) return unknownCommand(io, name);
  const command = await loaded(entry);
  if (args.includes('--help') || args.includes('-h')) {
    writeLine(io.stdout, command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      // Two lines: what is wrong, and where to read more (not the whole usage).
      writeLine(
        io.stderr,
        `cpectl ${command.name}: ${err.message}\n(cpectl ${command.name} --help shows its usage)`,
      );
      return EXIT.usage;
    }
    const code = err instanceof CpeError ? ` [${err.code}]` : '';
    writeLine(io.stderr, `cpectl ${command.name}: ${errorMessage(err)}${code}`);
    return EXIT.failed;
  }
}

function unknownCommand(io: Io, name: string): number {
  const hint = name.startsWith('-') ? 'an option before any command' : `unknown command "${name}"`;
  writeLine(io.stderr, `cpectl: ${hint}\n(cpectl --help lists the commands)`);
  return EXIT.usage;
}

function overview(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: cpectl COMMAND [OPTIONS] [ARGS]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'cpectl help COMMAND (or cpectl COMMAND --help) explains one command;',
    'cpectl --version prints the version.',
  ].join('\n');
}
