// Marks the compiled entry points named in package.json "bin" executable:
// tsc keeps their shebang line but not the file mode, and npx runs them directly.
import { chmodSync, existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const target of Object.values(pkg.bin)) {
  const file = new URL(`../${target}`, import.meta.url);
  if (existsSync(file)) chmodSync(file, 0o755);
}
