/**
 * What must run where another service runs, read once per config: a
 * mandatory colocation ("service with partner"), or a colocated order (its
 * `then` runs where its `first` runs). Placement, its ranks, the situations
 * and the constraint passes all read this one list, so that they cannot
 * disagree about what runs with what.
 */
import {
  SCORE_INFINITY,
  type ColocationConstraint,
  type DeployableConfig,
  type OrderConstraint,
} from '../lib/config/index.js';
import { memoized } from '../lib/memo.js';

export type RunsWith =
  | {
      readonly kind: 'colocation';
      /** The dependant: placed after its partner, where the partner runs. */
      readonly service: string;
      /** The partner. */
      readonly with: string;
      readonly whileRunning: false;
      readonly constraint: ColocationConstraint;
    }
  | {
      readonly kind: 'order';
      readonly service: string;
      readonly with: string;
      /**
       * An optional order: its `then` runs where its `first` runs, but may
       * run without it; where the first runs nowhere, it holds nothing back.
       */
      readonly whileRunning: boolean;
      readonly constraint: OrderConstraint;
    };

/** Mandatory colocations first, then colocated orders, each in config order. */
export const runsWith = memoized((config: DeployableConfig): readonly RunsWith[] => [
  ...config.constraints.colocation
    .filter((c) => c.score >= SCORE_INFINITY)
    .map((c): RunsWith => ({
      kind: 'colocation',
      service: c.service,
      with: c.with,
      whileRunning: false,
      constraint: c,
    })),
  ...config.constraints.order
    .filter((o) => o.colocate)
    .map((o): RunsWith => ({
      kind: 'order',
      service: o.then,
      with: o.first,
      whileRunning: o.kind === 'optional',
      constraint: o,
    })),
]);
