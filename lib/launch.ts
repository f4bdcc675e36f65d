#!/usr/bin/env node
/**
 * The entry point of a built daemon (dist/cpe/main.js, dist/dpe/main.js,
 * dist/agent/main.js; the build bundles this file into each, as CommonJS so
 * that Node does not load its ES module loader first): runs the
 * daemon bundled as one CommonJS file beside it (main.cjs) from the V8 code
 * cache the build wrote (see lib/code-cache.ts). From the sources, each
 * daemon's main.ts runs itself.
 */
import { fileURLToPath } from 'node:url';
import { runWithCodeCache } from './code-cache.js';

const bundle = fileURLToPath(new URL('main.cjs', import.meta.url));
runWithCodeCache(bundle, `${bundle}.cache`);
