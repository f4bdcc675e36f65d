#!/usr/bin/env node
/**
 * The entry point of a built daemon (dist/cpe/main.js, dist/dpe/main.js,
 * dist/agent/main.js; the build bundles this file into each, as CommonJS so
 * that Node does not load its ES module loader first): runs the
 * daemon bundled as one CommonJS file beside it (main.cjs) from the V8 code
 * cache the build wrote (see lib/code-cache.ts). From the sources, each
 * daemon's main.ts runs itself. With CPE_CODE_CACHE_TRAINING_DIR set (by the
 * build's training run, scripts/train-code-cache.mjs), it runs from source
 * and writes there, as it exits, the cache of what it compiled.
 */
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTrainingCodeCache, runWithCodeCache, TRAINING_DIR_ENV } from './code-cache.js';

const bundle = fileURLToPath(new URL('main.cjs', import.meta.url));
const training = process.env[TRAINING_DIR_ENV];
if (training) runTrainingCodeCache(bundle, join(training, `${basename(dirname(bundle))}.cache`));
else runWithCodeCache(bundle, `${bundle}.cache`);
