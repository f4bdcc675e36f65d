import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command reads and writes; tests pass their own. */
export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: readonly string[], io: Io): Promise<number>;
}

/** A command known by name and summary, loaded only when it is used (cpectl --help loads none). */
export interface LazyCommand {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

export type CommandEntry = Command | LazyCommand;

export async function loaded(entry: CommandEntry): Promise<Command> {
  return 'load' in entry ? entry.load() : entry;
}

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, its errors as short usage errors (not its advice about `--`). */
export function parseCommandArgs<T extends Options>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const option = /'(-[^']*)'/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      throw new UsageError(`unknown option ${option}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(
        /argument missing/.test(e.message)
          ? `${option.split(' ')[0] ?? option} needs a value`
          : `${option} takes no value`,
      );
    throw new UsageError(e.message);
  }
}

export function writeLine(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

/** Reads a stream to its end, or until `limit` bytes: the caller refuses what is over. */
export async function readBounded(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.from(chunk as Buffer);
    chunks.push(buffer);
    length += buffer.length;
    if (length >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/** Parses a byte count with an optional K/M/G suffix. */
export function parseByteSize(text: string): number {
  const m = /^(\d+)\s*([KMG]i?B?)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`not a size: ${text} (e.g. 4194304, 512K, 4M)`);
  const unit = (m[2] ?? '').charAt(0).toUpperCase();
  const scale = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  return Number(m[1]) * scale;
}
