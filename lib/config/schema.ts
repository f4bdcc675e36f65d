import { readFileSync } from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import { schemaPath } from '../paths.js';
import { ConfigCode, type ConfigCodeValue, type IssueList } from './issues.js';
import { sharedXmllint } from './xmllint.js';

export const SCHEMA_VERSIONS = [1, 2] as const;
export type SchemaVersion = (typeof SCHEMA_VERSIONS)[number];

const TYPES_FILE = 'deployable-types.xsd';
const VALIDATION_TIMEOUT_MS = 30_000;

const texts = new Map<string, string>();
const elements = new Map<string, ReadonlySet<string>>();

function load(file: string): string {
  let xsd = texts.get(file);
  if (xsd === undefined) texts.set(file, (xsd = readFileSync(schemaPath(file), 'utf8')));
  return xsd;
}

function declaredElements(xsd: string): Set<string> {
  const names = new Set<string>();
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' });
  const visit = (node: unknown, inElement: boolean): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, inElement);
    } else if (node !== null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (inElement && typeof record.name === 'string') names.add(record.name);
      for (const [key, value] of Object.entries(record)) visit(value, key === 'xs:element');
    }
  };
  visit(parser.parse(xsd), false);
  return names;
}

/** Every element name the schema declares, to tell "unknown" from "misplaced": only a bad config needs it. */
function elementsOf(version: SchemaVersion): ReadonlySet<string> {
  const file = `deployable-${version}.xsd`;
  let names = elements.get(file);
  if (names === undefined) elements.set(file, (names = declaredElements(load(file))));
  return names;
}

/** One problem libxml2 found, mapped to our codes. */
interface SchemaProblem {
  readonly line: number | null;
  readonly element: string | null;
  readonly attribute: string | undefined;
  readonly code: ConfigCodeValue;
  readonly message: string;
}

/**
 * Validates the text against the schema of its version with libxml2
 * (xmllint-wasm: no native code). Adds an issue for each problem and
 * returns whether the document is valid. Where an unknown element or
 * attribute would be accepted by a later schema version, the message says so.
 */
export async function validateAgainstSchema(
  text: string,
  version: SchemaVersion,
  issues: IssueList,
): Promise<boolean> {
  const problems = await schemaProblems(text, version);
  const latest = SCHEMA_VERSIONS[SCHEMA_VERSIONS.length - 1]!;
  const unknown = (p: SchemaProblem): boolean =>
    p.code === ConfigCode.unknownElement || p.code === ConfigCode.unknownAttribute;
  let later: SchemaProblem[] | undefined;
  if (version < latest && problems.some(unknown)) later = await schemaProblems(text, latest);
  for (const p of problems) {
    const fine = later?.every(
      (q) => !(q.line === p.line && q.element === p.element && q.attribute === p.attribute),
    );
    const hint = unknown(p) && fine ? `; it needs schema_version="${latest}" on <deployable>` : '';
    issues.error(p.code, p.line, p.element, p.message + hint);
  }
  return problems.length === 0;
}

async function schemaProblems(text: string, version: SchemaVersion): Promise<SchemaProblem[]> {
  const file = `deployable-${version}.xsd`;
  let output: string;
  try {
    const result = await sharedXmllint().validate(
      { fileName: 'config.xml', contents: text },
      { fileName: file, contents: load(file) },
      [{ fileName: TYPES_FILE, contents: load(TYPES_FILE) }],
      VALIDATION_TIMEOUT_MS,
    );
    if (result.exitCode === 0) return [];
    output = result.stderr;
  } catch (err) {
    output = err instanceof Error ? err.message : String(err);
  }
  const problems = parseOutput(output, version);
  if (problems.length > 0) return problems;
  return [
    {
      line: null,
      element: null,
      attribute: undefined,
      code: ConfigCode.validatorFailed,
      message: `schema validation failed: ${output.trim()}`,
    },
  ];
}

const OUTPUT_LINE =
  /^config\.xml:(\d+): (parser error|namespace error|Schemas validity error|Schemas parser error) : (.*)$/;

/**
 * xmllint's stderr: one line per problem, `config.xml:LINE: KIND : message`,
 * parser errors followed by a context line and a caret line (skipped). Only
 * the first parser error counts: the rest are its echoes.
 */
function parseOutput(output: string, version: SchemaVersion): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const raw of output.split('\n')) {
    const match = OUTPUT_LINE.exec(raw.trim());
    if (!match) continue;
    const line = Number(match[1]);
    const kind = match[2]!;
    const message = match[3]!.trim();
    // libxml2 follows a bad value in a unique/key field with this echo; the value error stands.
    if (message.includes('No precomputed value available')) continue;
    if (kind === 'parser error' || kind === 'namespace error') {
      return [
        {
          line,
          element: null,
          attribute: undefined,
          code: ConfigCode.malformed,
          message: `not well-formed XML: ${message}`,
        },
      ];
    }
    problems.push(toProblem(line, message, version));
  }
  return problems;
}

/** Attribute names whose bad values have a code of their own. */
const VALUE_CODES: Readonly<Record<string, ConfigCodeValue>> = {
  name: ConfigCode.badName,
  uuid: ConfigCode.badName,
  provider: ConfigCode.badName,
  type: ConfigCode.badName,
  id: ConfigCode.badName,
  first: ConfigCode.badName,
  then: ConfigCode.badName,
  service: ConfigCode.badName,
  with: ConfigCode.badName,
  services: ConfigCode.badName,
  assembly: ConfigCode.badName,
  parameter: ConfigCode.badName,
  username: ConfigCode.badName,
  class: ConfigCode.unknownClass,
  monitor_interval: ConfigCode.badInterval,
  escalation_period: ConfigCode.badInterval,
  interval: ConfigCode.badInterval,
  timeout: ConfigCode.badInterval,
};

const ELEMENT = /^Element '([^']+)'(?:, attribute '([^']+)')?: (.*)$/;

function toProblem(line: number, text: string, version: SchemaVersion): SchemaProblem {
  const match = ELEMENT.exec(text);
  if (!match) {
    return { line, element: null, attribute: undefined, code: ConfigCode.badValue, message: text };
  }
  const [, element = '', attribute, detail = ''] = match;
  return { line, element, attribute, ...describe(element, attribute, detail, version) };
}

function describe(
  element: string,
  attribute: string | undefined,
  detail: string,
  version: SchemaVersion,
): { code: ConfigCodeValue; message: string } {
  if (detail.includes('No matching global declaration available for the validation root')) {
    return {
      code: ConfigCode.wrongRoot,
      message: `the root element must be <deployable>, not <${element}>`,
    };
  }
  if (detail.includes('Character content other than whitespace is not allowed')) {
    return {
      code: ConfigCode.badValue,
      message: `text is not allowed inside <${element}>, only elements`,
    };
  }
  if (detail.includes('This element is not expected')) {
    const expected = /Expected is (?:one of )?\( ?([^)]*)\)/.exec(detail)?.[1]?.trim();
    const hint = expected ? ` (expected here: ${expected.replace(/\s*,\s*/g, ', ')})` : '';
    if (elementsOf(version).has(element)) {
      return {
        code: ConfigCode.unexpectedElement,
        message: `<${element}> is not allowed here or appears more than once${hint}`,
      };
    }
    return { code: ConfigCode.unknownElement, message: `unknown element <${element}>${hint}` };
  }
  if (detail.includes('Missing child element')) {
    const expected = /Expected is (?:one of )?\( ?([^)]*)\)/.exec(detail)?.[1]?.trim() ?? '';
    return {
      code: ConfigCode.missingElement,
      message: `<${element}> needs a child element: ${expected.replace(/\s*,\s*/g, ', ')}`,
    };
  }
  if (detail.includes('Duplicate key-sequence')) {
    const value = /Duplicate key-sequence \['([^']*)'\]/.exec(detail)?.[1] ?? '';
    return {
      code: ConfigCode.duplicateName,
      message: `duplicate ${element} ${uniqueField(detail)} "${value}"`,
    };
  }
  if (detail.includes('is not allowed')) {
    if (
      attribute === 'schema_version' ||
      (attribute === undefined && /'schema_version'/.test(detail))
    ) {
      return { code: ConfigCode.unsupportedVersion, message: detail };
    }
    return {
      code: ConfigCode.unknownAttribute,
      message: `unknown attribute "${attribute ?? '?'}"`,
    };
  }
  if (detail.includes('is required but missing')) {
    const name = /attribute '([^']+)'/.exec(detail)?.[1] ?? '?';
    return { code: ConfigCode.missingAttribute, message: `missing required attribute "${name}"` };
  }
  if (attribute !== undefined) {
    const value = /The value '([^']*)'/.exec(detail)?.[1];
    const shown = value === undefined ? '' : ` "${value}"`;
    return {
      code: VALUE_CODES[attribute] ?? ConfigCode.badValue,
      message: `bad value${shown} for attribute "${attribute}": ${valueRule(detail)}`,
    };
  }
  return { code: ConfigCode.badValue, message: detail };
}

/** Identity constraints are named unique<Element><Field>; say which field clashed. */
function uniqueField(detail: string): string {
  const constraint = /identity-constraint '([^']+)'/.exec(detail)?.[1] ?? '';
  if (constraint.endsWith('Uuid')) return 'uuid';
  if (constraint.endsWith('Id')) return 'id';
  return 'name';
}

function valueRule(detail: string): string {
  const set = /not an element of the set \{([^}]*)\}/.exec(detail)?.[1];
  if (set) return `expected one of ${set.replace(/'/g, '')}`;
  if (detail.includes("[facet 'pattern']"))
    return 'it does not have the expected form (see schemas/README.md)';
  if (detail.includes("[facet 'maxInclusive']")) return detail.replace(/^.*\] /, '');
  if (/fixed value constraint/.test(detail)) return detail;
  return detail.replace(/^.*\] /, '');
}
