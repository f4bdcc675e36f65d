// After tsc: bundles each entry point named in package.json "bin" in place
// (dist/cpe/main.js, …), with what they share in dist/chunks/, and marks them
// executable. Node 20 spends most of a short-lived process resolving and
// compiling ~120 ES modules one by one (fast-xml-parser alone is 20 files): a
// bundled DPE starts some 70 ms sooner (issue #13). The other files in dist/
// stay as tsc wrote them, for the benchmarks that load one module in process.
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const entries = Object.values(pkg.bin).map((target) => `${root}${target}`);

// Left to node_modules: native addons, and packages that read their own files
// at run time (etcd3 loads .proto files beside it; xmllint-wasm runs in a
// worker from its own folder; dbus-next requires optional native modules).
const EXTERNAL = ['better-sqlite3', 'unix-dgram', 'etcd3', 'xmllint-wasm', '@jellybrick/dbus-next'];

rmSync(`${root}dist/chunks`, { recursive: true, force: true });
await build({
  entryPoints: entries,
  outdir: `${root}dist`,
  outbase: `${root}dist`,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  sourcemap: true,
  logLevel: 'warning',
  // CommonJS packages inside an ES module bundle call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __cpeCreateRequire } from 'node:module'; const require = __cpeCreateRequire(import.meta.url);",
  },
});
for (const file of entries) chmodSync(file, 0o755);
