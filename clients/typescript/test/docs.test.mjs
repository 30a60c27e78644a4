// Every ```js program of docs/typescript.md runs to completion against the test server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { address, newTenant } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const guide = readFileSync(join(here, '..', '..', '..', 'docs', 'typescript.md'), 'utf8');
const programs = [...guide.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
// Inside the package, so that `import … from '@perdure/client'` resolves to it.
const folder = join(here, '..', '.doc-snippets');

test('the guide has its programs', () => {
  assert.ok(programs.length >= 5, `${programs.length} programs`);
});

for (const [index, program] of programs.entries()) {
  test(`docs/typescript.md program ${index + 1} runs`, async () => {
    const tenant = await newTenant();
    mkdirSync(folder, { recursive: true });
    const file = join(folder, `program-${index + 1}.mjs`);
    writeFileSync(file, program);
    const env = { ...process.env, PERDURE_ADDRESS: address, PERDURE_API_KEY: tenant.apiKey, PERDURE_NAMESPACE: tenant.namespace };
    const { stdout } = await promisify(execFile)(process.execPath, [file], { env, timeout: 60_000 });
    // What the guide's comments say each program prints.
    assert.ok(stdout.length > 0);
    const shownLines = [...program.matchAll(/console\.log\(.*\); \/\/ ([^…\n]+)/g)];
    for (const [, shown] of shownLines) {
      assert.ok(stdout.includes(shown.trim()), `program ${index + 1} printed:\n${stdout}\nnot: ${shown}`);
    }
  });
}
