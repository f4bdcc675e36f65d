import {
  DEFAULT_MAX_CONFIG_BYTES,
  parseDeployableConfig,
  parseDeployableConfigFile,
  type ParseResult,
} from '../lib/config/index.js';
import { parseByteSize, readBounded, type Io } from './command.js';

/** Options shared by every command that reads deployable configs. */
export const CONFIG_OPTIONS = {
  'max-size': { type: 'string' },
} as const;

export function maxBytesOption(value: string | undefined): number {
  return value === undefined ? DEFAULT_MAX_CONFIG_BYTES : parseByteSize(value);
}

/** Parses a config file, or standard input when the name is "-". */
export async function parseConfigArg(file: string, maxBytes: number, io: Io): Promise<ParseResult> {
  if (file !== '-') return parseDeployableConfigFile(file, { maxBytes });
  // One byte past the limit is enough to refuse without buffering a flood.
  const input = await readBounded(io.stdin, maxBytes + 1);
  return parseDeployableConfig(input, { file: '<stdin>', maxBytes });
}
