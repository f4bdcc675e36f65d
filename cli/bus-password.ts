import { credentialLine } from '../lib/bus/credentials.js';
import {
  EXIT,
  UsageError,
  parseCommandArgs,
  readBounded,
  writeLine,
  type Command,
} from './command.js';
import { SUMMARY } from './summaries.js';

export const busPasswordCommand: Command = {
  name: 'bus-password',
  summary: SUMMARY['bus-password'],
  usage: `usage: cpectl bus-password USER < password

Reads a password on standard input (its first line) and prints a line for
the embedded router's credentials file: USER:scrypt$N$r$p$salt$hash. The
password itself is never stored.

  echo "$PASSWORD" | cpectl bus-password dpe >> /etc/cpe/bus-users

Exit status: 0 printed, 1 refused (user name or password), 2 usage error.`,

  async run(args, io) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length !== 1) throw new UsageError('bus-password needs exactly one USER');
    const input = (await readBounded(io.stdin, 4096)).toString('utf8');
    const password = input.split(/\r?\n/)[0] ?? '';
    try {
      writeLine(io.stdout, await credentialLine(positionals[0]!, password));
      return EXIT.ok;
    } catch (err) {
      writeLine(io.stderr, `cpectl bus-password: ${(err as Error).message}`);
      return EXIT.failed;
    }
  },
};
