#!/usr/bin/env node
/**
 * The built DPE's entry point (dist/dpe/main.js): runs the DPE bundled as one
 * CommonJS file beside it (dpe.cjs, from main.ts) from the V8 code cache the
 * build wrote (see lib/code-cache.ts). From the sources, main.ts runs itself.
 */
import { fileURLToPath } from 'node:url';
import { runWithCodeCache } from '../lib/code-cache.js';

const bundle = fileURLToPath(new URL('dpe.cjs', import.meta.url));
runWithCodeCache(bundle, `${bundle}.cache`);
