import { CpeError, errorMessage } from '../lib/errors.js';
import { EXIT, UsageError, writeLine, type Command, type Io } from './command.js';

/** Dispatches `cpectl COMMAND ARGS…` to one of `commands`. */
export async function runCli(
  argv: readonly string[],
  commands: readonly Command[],
  io: Io,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = commands.find((c) => c.name === args[0]);
    writeLine(name === undefined ? io.stderr : io.stdout, topic ? topic.usage : overview(commands));
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    writeLine(io.stderr, `cpectl: unknown command "${name}"\n\n${overview(commands)}`);
    return EXIT.usage;
  }
  if (args.includes('--help') || args.includes('-h')) {
    writeLine(io.stdout, command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      writeLine(io.stderr, `cpectl ${command.name}: ${err.message}\n\n${command.usage}`);
      return EXIT.usage;
    }
    const code = err instanceof CpeError ? ` [${err.code}]` : '';
    writeLine(io.stderr, `cpectl ${command.name}: ${errorMessage(err)}${code}`);
    return EXIT.failed;
  }
}

function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: cpectl COMMAND [OPTIONS] [ARGS]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'cpectl help COMMAND (or cpectl COMMAND --help) explains one command.',
  ].join('\n');
}
