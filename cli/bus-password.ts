import { credentialLine } from '../lib/bus/credentials.js';
import { readBusKey } from '../lib/bus/secrets.js';
import { loadSettings, SETTINGS_FILE, STATE_DIR } from '../lib/settings.js';
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

export const busCredentialsCommand: Command = {
  name: 'bus-credentials',
  summary: SUMMARY['bus-credentials'],
  usage: `usage: cpectl bus-credentials USER [--state-dir DIR] [--config FILE]

Prints the password of USER on the CPE's embedded router, as the CPE's bus
key (DIR/credentials/bus.key, root's only; DIR is the CPE's state.dir, read
as the CPE reads it: --state-dir, CPE_STATE_DIR or the settings file, default
${STATE_DIR.default}) derives it. The name says who USER is: an
assembly's agent is agent.DEPLOYABLE.ASSEMBLY (agent.DEPLOYABLE for all of a
deployable's assemblies at once), anything else a client such as cpectl
(schemas/messages.md, "Identities"). Give it to the agent in a file:

  cpectl bus-credentials agent.web.a1 > bus-password   # then, on a1:
  cpe-agent --deployable web --assembly a1 --bus-password-file bus-password ...

Exit status: 0 printed, 1 the key cannot be read, 2 usage error.`,

  run(args, io) {
    // state.dir as the CPE reads it: --state-dir, CPE_STATE_DIR, or the settings file.
    let loaded;
    try {
      loaded = loadSettings({ stateDir: STATE_DIR }, args, process.env, SETTINGS_FILE);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const unknown = loaded.rest.find((a) => a.startsWith('-'));
    if (unknown) throw new UsageError(`unknown option ${unknown}`);
    const positionals = loaded.rest;
    if (positionals.length !== 1) throw new UsageError('bus-credentials needs exactly one USER');
    try {
      const key = readBusKey(loaded.settings.stateDir);
      writeLine(io.stdout, key.password(positionals[0]!));
      return Promise.resolve(EXIT.ok);
    } catch (err) {
      writeLine(io.stderr, `cpectl bus-credentials: ${(err as Error).message}`);
      return Promise.resolve(EXIT.failed);
    }
  },
};
