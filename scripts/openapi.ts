/**
 * `npm run openapi`: writes schemas/openapi.json from the HTTP API's route
 * table (cpe/http-routes.ts), the same schemas the server validates with.
 * A test fails while the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiText } from '../cpe/http-routes.js';
import { packageRoot } from '../lib/paths.js';

writeFileSync(join(packageRoot(), 'schemas', 'openapi.json'), openApiText());
