/**
 * Errors carry a stable `code` so that callers (QMF exceptions, cpectl exit
 * paths, tests) branch on the code, never on message text.
 */
export class CpeError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The caller asked for something the product does not accept. */
export class InvalidArgumentError extends CpeError {
  constructor(message: string, code = 'INVALID_ARGUMENT') {
    super(code, message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
