/**
 * Declared argument types for methods: the server checks a call against
 * them before any handler runs, and answers a bad call with an exception
 * that names the argument and what was wrong.
 */
import { BusCode, BusError } from './errors.js';
import type { QmfMap, QmfValue } from './qmf.js';

export type ArgType = 'string' | 'integer' | 'number' | 'boolean' | 'map' | 'list' | 'any';

export interface ArgSpec {
  readonly type: ArgType;
  readonly optional?: boolean;
  /** Strings: the longest accepted (in characters). */
  readonly maxLength?: number;
  /** Strings: a pattern the whole value must match. */
  readonly pattern?: RegExp;
  /** Strings: the accepted values. */
  readonly oneOf?: readonly string[];
  /** Lists: the most entries accepted. */
  readonly maxItems?: number;
  /** Numbers: the accepted range. */
  readonly min?: number;
  readonly max?: number;
}

export type ArgSpecs = Readonly<Record<string, ArgSpec>>;

function kindOf(value: QmfValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (Buffer.isBuffer(value)) return 'binary';
  if (value instanceof Date) return 'timestamp';
  if (typeof value === 'object') return 'map';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Throws a BusError naming the first argument that does not fit; returns the arguments. */
export function checkArguments(method: string, specs: ArgSpecs, args: QmfMap): QmfMap {
  for (const key of Object.keys(args)) {
    if (!Object.hasOwn(specs, key)) {
      throw new BusError(
        BusCode.unknownArgument,
        `${method}: unknown argument "${key}" (takes ${Object.keys(specs).join(', ') || 'none'})`,
      );
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    const value = args[name];
    if (value === undefined || value === null) {
      if (spec.optional) continue;
      throw new BusError(
        BusCode.missingArgument,
        `${method}: missing argument "${name}" (${spec.type})`,
      );
    }
    const problem = mismatch(spec, value);
    if (problem)
      throw new BusError(BusCode.badArgument, `${method}: argument "${name}" ${problem}`);
  }
  return args;
}

function mismatch(spec: ArgSpec, value: QmfValue): string | null {
  const kind = kindOf(value);
  const fits =
    spec.type === 'any' || kind === spec.type || (spec.type === 'number' && kind === 'integer');
  if (!fits)
    return `must be ${spec.type === 'integer' ? 'an' : 'a'} ${spec.type}, not ${kind === 'integer' || kind === 'null' ? 'an ' + kind : 'a ' + kind}`;
  if (typeof value === 'string') {
    if (spec.maxLength !== undefined && value.length > spec.maxLength)
      return `is longer than ${spec.maxLength} characters`;
    if (spec.oneOf && !spec.oneOf.includes(value)) return `must be one of ${spec.oneOf.join(', ')}`;
    if (spec.pattern && !spec.pattern.test(value)) return `does not have the expected form`;
  }
  if (Array.isArray(value) && spec.maxItems !== undefined && value.length > spec.maxItems)
    return `has more than ${spec.maxItems} entries`;
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) return `must be at least ${spec.min}`;
    if (spec.max !== undefined && value > spec.max) return `must be at most ${spec.max}`;
  }
  return null;
}
