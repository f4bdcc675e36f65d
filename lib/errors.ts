/**
 * Errors carry a stable `code` so that callers (QMF exceptions, cpectl exit
 * paths, tests) branch on the code, never on message text.
 *
 * Each class names itself (`name`, what a stack trace or a log line starts
 * with): the daemons' bundles are minified, identifiers too, so a class's
 * own name there is a letter or two.
 */
export class CpeError extends Error {
  override name = 'CpeError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The caller asked for something the product does not accept. */
export class InvalidArgumentError extends CpeError {
  override name = 'InvalidArgumentError';

  constructor(message: string, code = 'INVALID_ARGUMENT') {
    super(code, message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
