/** What the parts of a pass share: the world read once, the plan being built, placement. */
import type { ActionSet } from './actions.js';
import type { Placer } from './placement.js';
import type { PlacementExplanation } from './types.js';
import type { World } from './world.js';

export interface PlanContext {
  readonly world: World;
  readonly actions: ActionSet;
  readonly placer: Placer;
  /** Service ids whose placement scores to report, and what was found for them. */
  readonly explain: ReadonlySet<string>;
  readonly explained: Map<string, PlacementExplanation>;
}
