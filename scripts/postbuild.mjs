// After tsc: bundles each entry point named in package.json "bin" in place
// (dist/cpe/main.js, …), with what they share in dist/chunks/, and marks them
// executable. Node 20 spends most of a short-lived process resolving and
// compiling ~120 ES modules one by one (fast-xml-parser alone is 20 files): a
// bundled DPE starts some 70 ms sooner (issue #13). The other files in dist/
// stay as tsc wrote them, for the benchmarks that load one module in process.
//
// The DPE, started once per deployable, goes further: it is bundled as one
// CommonJS file (dist/dpe/dpe.cjs) with a V8 code cache beside it, written
// here under the flags DPEs run with, and dist/dpe/main.js is a small entry
// that runs it from that cache (lib/code-cache.ts, dpe/launch.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const entries = Object.values(pkg.bin).map((target) => `${root}${target}`);
const dpeMain = `${root}dist/dpe/main.js`;
const dpeBundle = `${root}dist/dpe/dpe.cjs`;

// Left to node_modules: native addons, and packages that read their own files
// at run time (etcd3 loads .proto files beside it; xmllint-wasm runs in a
// worker from its own folder; dbus-next requires optional native modules).
const EXTERNAL = ['better-sqlite3', 'unix-dgram', 'etcd3', 'xmllint-wasm', '@jellybrick/dbus-next'];
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  sourcemap: true,
  logLevel: 'warning',
};

rmSync(`${root}dist/chunks`, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: entries.filter((file) => file !== dpeMain),
  outdir: `${root}dist`,
  outbase: `${root}dist`,
  allowOverwrite: true,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  // CommonJS packages inside an ES module bundle call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __cpeCreateRequire } from 'node:module'; const require = __cpeCreateRequire(import.meta.url);",
  },
});
await build({
  ...common,
  entryPoints: [dpeMain],
  outfile: dpeBundle,
  format: 'cjs',
  // The sources find their package (and require native addons) from import.meta.url.
  define: { 'import.meta.url': '__cpeImportMetaUrl' },
  banner: { js: "const __cpeImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
await build({
  ...common,
  entryPoints: [`${root}dist/dpe/launch.js`],
  outfile: dpeMain,
  allowOverwrite: true,
  format: 'esm',
});
// In a process of its own, under the DPE's flags: V8 accepts a cache only under the flags it was written with.
const { DPE_NODE_FLAGS } = await import(`${root}dist/lib/code-cache.js`);
const written = spawnSync(
  process.execPath,
  [
    ...DPE_NODE_FLAGS,
    '--input-type=module',
    '-e',
    `import { writeCodeCache } from ${JSON.stringify(`${root}dist/lib/code-cache.js`)};
     writeCodeCache(${JSON.stringify(dpeBundle)}, ${JSON.stringify(`${dpeBundle}.cache`)});`,
  ],
  { stdio: 'inherit' },
);
if (written.status !== 0)
  throw new Error(`writing the DPE's code cache failed (exit ${written.status})`);
for (const file of entries) chmodSync(file, 0o755);
