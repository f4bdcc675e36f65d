'use strict';
// Worker thread running libxml2's xmllint (the xmllint-wasm build) for the
// config validator. The wasm module is compiled once per worker; each request
// gets a fresh instance, memory and file system, so requests cannot leak into
// each other. Plain CommonJS: it runs without the TypeScript loader.
const { parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

// Requiring the factory also registers xmllint-wasm's own message handler,
// which ignores messages without its key; ours carry a different one.
const factory = require('xmllint-wasm/xmllint-node.js');
// Baseline code only. V8 otherwise recompiles libxml2's hot functions with
// TurboFan on another thread, which on two cores competes with the checks it
// is meant to speed up: the first check of a config took ~40 ms instead of
// ~22, and only after some 15 checks does the optimised code pay off, while
// this worker goes away after 30 s without one (issue #13). The flag is the
// process's: the only other wasm, undici's HTTP parser (the CPE's webhooks),
// reads a few short responses, where baseline code does as well.
require('node:v8').setFlagsFromString('--liftoff-only');
const wasmFile = join(dirname(require.resolve('xmllint-wasm/xmllint-node.js')), 'xmllint.wasm');
const compiled = new WebAssembly.Module(readFileSync(wasmFile));

parentPort.on('message', (request) => {
  if (!request || request.kind !== 'cpe-xmllint') return;
  let stdout = '';
  let stderr = '';
  let answered = false;
  const answer = (exitCode) => {
    if (answered) return;
    answered = true;
    parentPort.postMessage({ kind: 'cpe-xmllint', id: request.id, exitCode, stdout, stderr });
  };
  Promise.resolve()
    .then(() =>
      factory({
        inputFiles: request.files,
        arguments: request.args,
        print: (text) => {
          stdout += `${text}\n`;
        },
        printErr: (text) => {
          stderr += `${text}\n`;
        },
        onExit: answer,
        onAbort: (reason) => {
          stderr += `WASM abort: ${reason}\n`;
          answer(-1);
        },
        wasmMemory: new WebAssembly.Memory({
          initial: request.initialPages,
          maximum: request.maxPages,
        }),
        instantiateWasm(imports, receive) {
          WebAssembly.instantiate(compiled, imports).then(
            (instance) => receive(instance, compiled),
            (err) => {
              stderr += `WASM instantiate failed: ${err}\n`;
              answer(-1);
            },
          );
          return {};
        },
      }),
    )
    .catch((err) => {
      // Emscripten signals exit by throwing; onExit has answered by then.
      if (!answered) {
        stderr += `${err && err.message ? err.message : err}\n`;
        answer(-1);
      }
    });
});
