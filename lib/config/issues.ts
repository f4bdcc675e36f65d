import { CpeError } from '../errors.js';

/** Stable codes for everything wrong with a deployable config (documented in schemas/README.md). */
export const ConfigCode = {
  unreadable: 'CONFIG_UNREADABLE',
  tooLarge: 'CONFIG_TOO_LARGE',
  badEncoding: 'CONFIG_BAD_ENCODING',
  malformed: 'CONFIG_MALFORMED',
  doctype: 'CONFIG_DOCTYPE',
  wrongRoot: 'CONFIG_WRONG_ROOT',
  unsupportedVersion: 'CONFIG_UNSUPPORTED_VERSION',
  unknownElement: 'CONFIG_UNKNOWN_ELEMENT',
  unexpectedElement: 'CONFIG_UNEXPECTED_ELEMENT',
  missingElement: 'CONFIG_MISSING_ELEMENT',
  unknownAttribute: 'CONFIG_UNKNOWN_ATTRIBUTE',
  missingAttribute: 'CONFIG_MISSING_ATTRIBUTE',
  duplicateName: 'CONFIG_DUPLICATE_NAME',
  badName: 'CONFIG_BAD_NAME',
  unknownClass: 'CONFIG_UNKNOWN_CLASS',
  badInterval: 'CONFIG_BAD_INTERVAL',
  badValue: 'CONFIG_BAD_VALUE',
  unknownResource: 'CONFIG_UNKNOWN_RESOURCE',
  dependencyCycle: 'CONFIG_DEPENDENCY_CYCLE',
  badRule: 'CONFIG_BAD_RULE',
  validatorFailed: 'CONFIG_VALIDATOR_FAILED',
  tooManyIssues: 'CONFIG_TOO_MANY_ISSUES',
  // warnings
  escalationIncomplete: 'CONFIG_ESCALATION_INCOMPLETE',
  readAsOriginal: 'CONFIG_READ_AS_ORIGINAL',
} as const;

export type ConfigCodeValue = (typeof ConfigCode)[keyof typeof ConfigCode];

export interface ConfigIssue {
  readonly code: ConfigCodeValue;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly file: string;
  /** 1-based; null only when the problem is the input as a whole (size, encoding). */
  readonly line: number | null;
  /** The element the problem is in, without brackets; null for whole-input problems. */
  readonly element: string | null;
}

/** `file:line: <element>: message [CODE]` — the form compilers and xmllint use. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
  const element = issue.element === null ? '' : ` <${issue.element}>:`;
  const kind = issue.severity === 'warning' ? ' warning:' : '';
  return `${where}:${kind}${element} ${issue.message} [${issue.code}]`;
}

/** More than this and the rest are counted, not listed: a hostile file cannot flood the output. */
export const MAX_ISSUES = 100;

/** Collects issues for one input. */
export class IssueList {
  readonly #issues: ConfigIssue[] = [];
  #dropped = 0;

  constructor(readonly file: string) {}

  error(code: ConfigCodeValue, line: number | null, element: string | null, message: string): void {
    this.#add({ code, severity: 'error', message, file: this.file, line, element });
  }

  warn(code: ConfigCodeValue, line: number | null, element: string | null, message: string): void {
    this.#add({ code, severity: 'warning', message, file: this.file, line, element });
  }

  #add(issue: ConfigIssue): void {
    if (this.#issues.length < MAX_ISSUES) this.#issues.push(issue);
    else this.#dropped += 1;
  }

  /** Another list's issues, as if reported here. */
  absorb(other: IssueList): void {
    for (const issue of other.#issues) this.#add(issue);
    this.#dropped += other.#dropped;
  }

  get hasErrors(): boolean {
    return this.#issues.some((i) => i.severity === 'error');
  }

  /** Errors first, each group by line (stable for equal lines), then a count of any dropped. */
  sorted(): ConfigIssue[] {
    const rank = (i: ConfigIssue): number => (i.severity === 'error' ? 0 : 1);
    const sorted = [...this.#issues].sort(
      (a, b) => rank(a) - rank(b) || (a.line ?? 0) - (b.line ?? 0),
    );
    if (this.#dropped > 0) {
      sorted.push({
        code: ConfigCode.tooManyIssues,
        severity: 'error',
        message: `${this.#dropped} more problems not listed`,
        file: this.file,
        line: null,
        element: null,
      });
    }
    return sorted;
  }
}

/** Thrown by loadDeployableConfig: the config was refused; `issues` says why. */
export class ConfigError extends CpeError {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error');
    const first = errors[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super(
      first?.code ?? 'CONFIG_INVALID',
      first ? `${formatIssue(first)}${more}` : 'invalid deployable config',
    );
    this.issues = issues;
  }
}
