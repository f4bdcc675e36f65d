/** What other programs use of the DPE: its engine, and the simulator built on it. */
export { DeployableEngine, DPE_EVENTS, type EngineOptions, type Emit } from './engine.js';
export {
  simulate,
  parseFault,
  parseOffset,
  FAULT_KINDS,
  type FaultKind,
  type SimFault,
  type SimulationResult,
  type TimelineEntry,
} from './simulation.js';
export { countersOf } from './status.js';
