/** What other programs use of the DPE: its engine, and the simulator built on it. */
export { DeployableEngine, DPE_EVENTS, type EngineOptions, type Emit } from './engine.js';
export { simulate, type SimulationResult, type TimelineEntry } from './simulation.js';
export {
  parseFault,
  parseOffset,
  FAULT_KINDS,
  type FaultKind,
  type SimFault,
} from '../lib/sim/faults.js';
export { countersOf } from './status.js';
