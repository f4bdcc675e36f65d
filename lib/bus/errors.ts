import { CpeError } from '../errors.js';

/** Stable codes of the messaging layer (documented in schemas/messages.md). */
export const BusCode = {
  busDown: 'BUS_DOWN',
  callTimeout: 'CALL_TIMEOUT',
  noRoute: 'NO_ROUTE',
  tooManyCalls: 'TOO_MANY_CALLS',
  messageTooLarge: 'MESSAGE_TOO_LARGE',
  malformed: 'MALFORMED_MESSAGE',
  unknownObject: 'UNKNOWN_OBJECT',
  unknownMethod: 'UNKNOWN_METHOD',
  missingArgument: 'MISSING_ARGUMENT',
  unknownArgument: 'UNKNOWN_ARGUMENT',
  badArgument: 'BAD_ARGUMENT',
  handlerFailed: 'HANDLER_FAILED',
  closed: 'BUS_CLOSED',
  unreachable: 'BUS_UNREACHABLE',
} as const;

export class BusError extends CpeError {
  override name = 'BusError';
}

/** An `_exception` answer: the server's code and text, as it sent them. */
export class RemoteError extends CpeError {
  override name = 'RemoteError';

  constructor(
    code: string,
    message: string,
    readonly method: string,
  ) {
    super(code, message);
  }
}
