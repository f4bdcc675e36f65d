import { RECOVERY_SETTINGS } from '../lib/recovery.js';
import { BUS_SETTINGS, DPE_STATE_ROOT, type SettingsTable } from '../lib/settings.js';

export const DPE_SETTINGS = {
  ...BUS_SETTINGS,
  ...RECOVERY_SETTINGS,
  name: {
    key: 'dpe.name',
    flag: '--name',
    env: 'CPE_DPE_NAME',
    type: 'string',
    default: '',
    help: 'the deployable this DPE runs (dpe@NAME.service passes it)',
  },
  heartbeatMs: {
    key: 'dpe.heartbeatMs',
    type: 'integer',
    default: 1000,
    help: 'how often the DPE tells the CPE it is alive, in ms',
  },
  stateRoot: DPE_STATE_ROOT,
  replayKeep: {
    key: 'dpe.replayKeep',
    type: 'integer',
    default: 200,
    help: 'how many PE inputs (with their plans) to keep for cpectl simulate; 0 keeps none',
  },
  outboxMax: {
    key: 'dpe.outboxMax',
    type: 'integer',
    default: 100_000,
    help: "events kept for the CPE while it cannot take them (in the state directory's outbox.jsonl); past it the oldest tenth is dropped and logged",
  },
  agentReconnectMs: {
    key: 'dpe.agentReconnectMs',
    type: 'integer',
    default: 10_000,
    help: "after the DPE's bus connection returns, how long agents get to reconnect before silence counts (their longest reconnect backoff)",
  },
  inventoryTimeoutMs: {
    key: 'dpe.inventoryTimeoutMs',
    type: 'integer',
    default: 5000,
    help: 'how long an agent has to list its services when a new agent session is heard',
  },
} as const satisfies SettingsTable;
