/**
 * Policy-engine regression cases, after Pacemaker's cts/scheduler: each
 * folder under test/pe/cases holds input.json (a PE input; its config is
 * usually one of test/pe/configs) and the plan it must produce, exactly:
 * expected.json, and expected.txt as cpectl simulate prints it.
 *
 *   npm run pe:cases                  compare every case, show differences
 *   npm run pe:cases -- --run NAME    only NAME (repeatable)
 *   npm run pe:cases -- --update      write the current plans as expected
 *
 * Review every --update diff: an expected plan is a decision, not a snapshot.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPeInput } from '../../cli/pe-input.js';
import { formatPlan } from '../../cli/plan-format.js';
import { plan } from '../../pe/index.js';

export const CASES_DIR = join(import.meta.dirname, 'cases');

export function listCases(): string[] {
  return readdirSync(CASES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export interface CaseOutput {
  readonly json: string;
  readonly text: string;
}

export async function runCase(name: string): Promise<CaseOutput> {
  const { input, now } = await loadPeInput(join(CASES_DIR, name, 'input.json'));
  const { plan: result } = await plan(input, now);
  return {
    json: `${JSON.stringify(result, null, 2)}\n`,
    text: `${formatPlan(result).join('\n')}\n`,
  };
}

export function expected(name: string): CaseOutput | null {
  const dir = join(CASES_DIR, name);
  if (!existsSync(join(dir, 'expected.json'))) return null;
  return {
    json: readFileSync(join(dir, 'expected.json'), 'utf8'),
    text: readFileSync(join(dir, 'expected.txt'), 'utf8'),
  };
}

export function writeExpected(name: string, output: CaseOutput): void {
  writeFileSync(join(CASES_DIR, name, 'expected.json'), output.json);
  writeFileSync(join(CASES_DIR, name, 'expected.txt'), output.text);
}

/** The differing lines, with their numbers: enough to see what changed in a plan. */
export function lineDiff(want: string, got: string, limit = 40): string {
  const a = want.split('\n');
  const b = got.split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && out.length < limit; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] !== undefined) out.push(`${String(i + 1).padStart(4)} - ${a[i]}`);
    if (b[i] !== undefined) out.push(`${String(i + 1).padStart(4)} + ${b[i]}`);
  }
  return out.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      update: { type: 'boolean', default: false },
      run: { type: 'string', multiple: true },
    },
  });
  const names = values.run?.length ? values.run : listCases();
  let differ = 0;
  for (const name of names) {
    if (!existsSync(join(CASES_DIR, name, 'input.json'))) {
      process.stderr.write(`no such case: ${name}\n`);
      differ += 1;
      continue;
    }
    const got = await runCase(name);
    const want = expected(name);
    if (want !== null && want.json === got.json && want.text === got.text) {
      process.stdout.write(`ok       ${name}\n`);
      continue;
    }
    if (values.update) {
      writeExpected(name, got);
      process.stdout.write(`updated  ${name}\n${got.text}\n`);
      continue;
    }
    differ += 1;
    process.stdout.write(
      `DIFFERS  ${name}\n${want === null ? '(no expected plan yet)' : lineDiff(want.text, got.text)}\n\n`,
    );
  }
  process.stdout.write(`${names.length - differ} cases as expected, ${differ} differ\n`);
  return differ === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  process.exitCode = await main();
}
