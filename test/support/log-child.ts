// Child process for the logger tests: logs one line of each level through the factory's defaults.
import { createLogger } from '../../lib/log.js';

const log = createLogger({ name: 'log-child', level: 'debug' }).child({ deployable: 'wp' });
log.error('broke', { action: 'a1' });
log.warn('careful');
log.info('hello');
log.debug('detail');
