/**
 * Deployable config: XML in, validated and frozen DeployableConfig out.
 *
 *   decode (size, encoding) → refuse declarations → schema (libxml2, by
 *   schema_version) → element tree → semantic checks and compile
 *
 * Every refusal is a ConfigIssue with a stable code, the file, the line and
 * the element; nothing here throws on bad input.
 */
import { fileProblem } from '../files.js';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { compileDeployable } from './compile.js';
import { ConfigCode, ConfigError, IssueList, type ConfigIssue } from './issues.js';
import type { DeployableConfig } from './model.js';
import { SCHEMA_VERSIONS, validateAgainstSchema, type SchemaVersion } from './schema.js';
import { DEFAULT_MAX_CONFIG_BYTES, LineIndex, decodeConfig, refuseDeclarations } from './source.js';
import { parseTree } from './tree.js';

export * from './issues.js';
export * from './model.js';
export { DEFAULT_MAX_CONFIG_BYTES } from './source.js';
export { serviceId, ASSEMBLY_FACTS } from './compile.js';
export { serializeDeployable } from './serialize.js';

export interface ParseOptions {
  /** Named in every issue; defaults to "config.xml". */
  readonly file?: string;
  readonly maxBytes?: number;
  /**
   * Skips the libxml2 schema pass (its worker costs a DPE ~25 MB and 150 ms
   * at start) for text this package validated before storing it: the CPE's
   * stored configs, as its DPEs fetch them. Every other check still runs.
   */
  readonly trusted?: boolean;
}

export type ParseResult =
  | {
      readonly ok: true;
      readonly config: DeployableConfig;
      readonly warnings: readonly ConfigIssue[];
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export async function parseDeployableConfig(
  input: Uint8Array | string,
  options: ParseOptions = {},
): Promise<ParseResult> {
  const issues = new IssueList(options.file ?? 'config.xml');
  const config = await parse(input, options, issues);
  const all = issues.sorted();
  if (config === null || issues.hasErrors) return { ok: false, issues: all };
  return { ok: true, config, warnings: all };
}

/** Like parseDeployableConfig, but throws ConfigError when the config is refused. */
export async function loadDeployableConfig(
  input: Uint8Array | string,
  options: ParseOptions = {},
): Promise<{ config: DeployableConfig; warnings: readonly ConfigIssue[] }> {
  const result = await parseDeployableConfig(input, options);
  if (!result.ok) throw new ConfigError(result.issues);
  return result;
}

/** Reads and parses a file; an unreadable file is an issue like any other. */
export async function parseDeployableConfigFile(
  path: string,
  options: Omit<ParseOptions, 'file'> = {},
): Promise<ParseResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  let bytes: Buffer;
  try {
    bytes = await readBounded(path, maxBytes + 1);
  } catch (err) {
    return { ok: false, issues: unreadable(path, err) };
  }
  return parseDeployableConfig(bytes, { file: path, maxBytes });
}

/**
 * A config file as text (UTF-8, whatever it declared), or why it cannot be
 * one. `regularOnly`: a regular file only, no symbolic link (nor a FIFO),
 * for a file in a directory others write (the original's hand-off,
 * /var/run/UUID.xml).
 */
export async function readConfigText(
  path: string,
  options: { readonly maxBytes?: number; readonly regularOnly?: boolean } = {},
): Promise<
  | { ok: true; text: string }
  | { ok: false; issues: readonly ConfigIssue[]; /** no such file */ missing: boolean }
> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  let bytes: Buffer;
  try {
    bytes = await readBounded(path, maxBytes + 1, options.regularOnly);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, issues: unreadable(path, err, options.regularOnly), missing };
  }
  const issues = new IssueList(path);
  const text = decodeConfig(bytes, maxBytes, issues);
  return text === null
    ? { ok: false, issues: issues.sorted(), missing: false }
    : { ok: true, text };
}

/** Why a config file could not be read, as its one issue. */
function unreadable(path: string, err: unknown, regularOnly = false): ConfigIssue[] {
  const code = (err as NodeJS.ErrnoException).code;
  const issues = new IssueList(path);
  issues.error(
    ConfigCode.unreadable,
    null,
    null,
    // O_NOFOLLOW reports a symbolic link as ELOOP.
    regularOnly && code === 'ELOOP'
      ? 'is a symbolic link, which is not followed here'
      : code === 'ENOTREG'
        ? 'is not a regular file'
        : fileProblem(err),
  );
  return issues.sorted();
}

/**
 * Reads at most `limit` bytes: enough to refuse an oversized file without
 * loading it. `regularOnly`: no symbolic link, and nothing but a regular
 * file (a FIFO there would block the reader).
 */
async function readBounded(path: string, limit: number, regularOnly = false): Promise<Buffer> {
  const file = await open(
    path,
    regularOnly ? constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK : 'r',
  );
  try {
    const stat = await file.stat();
    if (regularOnly && !stat.isFile())
      throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    const buffer = Buffer.alloc(Math.min(limit, stat.size + 1));
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}

async function parse(
  input: Uint8Array | string,
  options: ParseOptions,
  issues: IssueList,
): Promise<DeployableConfig | null> {
  const text = decodeConfig(input, options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES, issues);
  if (text === null) return null;
  const lines = new LineIndex(text);
  if (!refuseDeclarations(text, lines, issues)) return null;
  const version = schemaVersionOf(text, lines, issues);
  if (version === null) return null;
  if (options.trusted) {
    try {
      return compileText(text, lines, version, issues);
    } catch (err) {
      // Text the schema has not vetted, and not what we stored.
      issues.error(
        ConfigCode.malformed,
        null,
        null,
        `not a stored config: ${(err as Error).message}`,
      );
      return null;
    }
  }
  // libxml2 checks the schema in its worker while this thread parses and
  // compiles: what the compiler found counts only once the schema passed.
  const schema = validateAgainstSchema(text, version, issues);
  const semantic = new IssueList(issues.file);
  let compiled: DeployableConfig | null | { failed: unknown };
  try {
    compiled = compileText(text, lines, version, semantic);
  } catch (err) {
    compiled = { failed: err };
  }
  if (!(await schema)) return null;
  if (compiled !== null && 'failed' in compiled) throw compiled.failed;
  issues.absorb(semantic);
  return compiled;
}

function compileText(
  text: string,
  lines: LineIndex,
  version: SchemaVersion,
  issues: IssueList,
): DeployableConfig | null {
  const root = parseTree(text, lines);
  if (root === null) {
    issues.error(ConfigCode.malformed, 1, null, 'no root element');
    return null;
  }
  return compileDeployable(root, version, issues);
}

const PROLOG = /^(?:\s+|<\?[\s\S]*?\?>|<!--[\s\S]*?-->)*/;
const START_TAG = /^<([A-Za-z_][\w.:-]*)((?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*\/?>/;
const VERSION_ATTR = /\sschema_version\s*=\s*(?:"([^"]*)"|'([^']*)')/;

/**
 * Reads schema_version off the root start tag to pick the schema. Anything
 * this cannot read is left to libxml2 (version 1), which says precisely what
 * is malformed.
 */
function schemaVersionOf(text: string, lines: LineIndex, issues: IssueList): SchemaVersion | null {
  const at = PROLOG.exec(text)?.[0].length ?? 0;
  const tag = START_TAG.exec(text.slice(at, at + 64 * 1024));
  const attrs = tag?.[2];
  if (attrs === undefined) return 1;
  const found = VERSION_ATTR.exec(attrs);
  if (!found) return 1;
  const value = (found[1] ?? found[2] ?? '').trim();
  const version = SCHEMA_VERSIONS.find((v) => String(v) === value);
  if (version === undefined) {
    issues.error(
      ConfigCode.unsupportedVersion,
      lines.lineAt(at),
      tag?.[1] ?? null,
      `schema_version "${value}" is not supported (supported: ${SCHEMA_VERSIONS.join(', ')})`,
    );
    return null;
  }
  return version;
}
