/**
 * Reads what `cpectl simulate` and the regression cases feed the planner:
 *
 * - a PE input in JSON (as a DPE saves them): `now`, `bus`, `assemblies`,
 *   `services`, `inFlight`, and `config` — a path to the config XML
 *   (relative to the input file), the XML itself, or a compiled model;
 * - or a deployable config in XML alone: then every assembly has just beaten
 *   at `now` (default 0) and nothing runs yet — the plan that starts it all.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import { unreadable } from '../lib/files.js';
import { dirname, resolve } from 'node:path';
import {
  ConfigError,
  loadDeployableConfig,
  serializeDeployable,
  type DeployableConfig,
} from '../lib/config/index.js';
import { CpeError } from '../lib/errors.js';
import { readPeInput, type PeInput } from '../pe/index.js';

export interface LoadedInput {
  readonly input: PeInput;
  readonly now: number;
}

export async function loadPeInput(
  file: string,
  overrides: { now?: number; state?: string } = {},
): Promise<LoadedInput> {
  const text = await readFile(file, 'utf8');
  if (text.trimStart().startsWith('<')) {
    const { config } = await loadDeployableConfig(text, { file });
    const state =
      overrides.state === undefined
        ? initialState(config, overrides.now ?? 0)
        : await readJson(overrides.state);
    return finish(state, config, overrides.now);
  }
  const raw = parseJson(text, file);
  const config = await configOf(raw, dirname(file));
  return finish(raw, config, overrides.now);
}

function finish(raw: unknown, config: DeployableConfig, now: number | undefined): LoadedInput {
  const record = { ...(raw as Record<string, unknown>) };
  delete record.config;
  if (now !== undefined) record.now = now;
  return readPeInput(record, config);
}

async function configOf(raw: unknown, base: string): Promise<DeployableConfig> {
  const value = (raw as Record<string, unknown> | null)?.config;
  if (typeof value === 'string') {
    if (value.trimStart().startsWith('<'))
      return (await loadDeployableConfig(value, { file: 'input.config' })).config;
    const path = resolve(base, value);
    return (await loadDeployableConfig(await readFile(path), { file: path })).config;
  }
  if (value !== null && typeof value === 'object') {
    // A saved compiled model: re-validate it by writing it out and reading it back.
    let xml: string;
    try {
      xml = serializeDeployable(value as DeployableConfig);
    } catch {
      throw new CpeError('PE_BAD_INPUT', 'input.config: not a compiled deployable model');
    }
    return (await loadDeployableConfig(xml, { file: 'input.config' })).config;
  }
  throw new CpeError(
    'PE_BAD_INPUT',
    'input.config: expected a path to the config XML, the XML itself, or a compiled model',
  );
}

/** Every assembly beat at `now`, in epoch "sim"; no service observed anywhere. */
function initialState(config: DeployableConfig, now: number): unknown {
  return {
    now,
    bus: { connected: true, since: 0 },
    assemblies: Object.fromEntries(
      config.assemblies.map((a) => [a.name, { lastHeartbeat: now, epoch: 'sim' }]),
    ),
  };
}

/** A file's content, or one error that says why not (FILE_UNREADABLE). */
function readFile(file: string): Promise<Buffer>;
function readFile(file: string, encoding: 'utf8'): Promise<string>;
async function readFile(file: string, encoding?: 'utf8'): Promise<Buffer | string> {
  try {
    return encoding ? await fsReadFile(file, encoding) : await fsReadFile(file);
  } catch (err) {
    throw unreadable(file, err);
  }
}

async function readJson(file: string): Promise<unknown> {
  return parseJson(await readFile(file, 'utf8'), file);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CpeError('PE_BAD_INPUT', `${file}: not JSON: ${(err as Error).message}`);
  }
}

export { ConfigError };
