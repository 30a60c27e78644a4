// `npm test`: start a `perdure dev` of this repository on a free 127.0.0.1 port (SQLite, or the
// database of PERDURE_TEST_DATABASE_URL), run every test/*.test.mjs against it with
// `node --test`, stop it. With PERDURE_ADDRESS set, the tests use that server instead (give
// PERDURE_ADMIN_TOKEN, or PERDURE_API_KEY of an admin key).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repository = resolve(here, '..', '..', '..');

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

// As the Python suite does (tests/conftest.py): a PostgreSQL test database starts each run from
// an empty schema (migrations run from scratch; nothing sealed with another run's dev secret
// key is left), and commits without waiting for the disk.
const RESET_POSTGRES = `
import sys, sqlalchemy as sa
url = sa.engine.make_url(sys.argv[1])
engine = sa.create_engine(url)
with engine.begin() as conn:
    conn.execute(sa.text("DROP SCHEMA public CASCADE"))
    conn.execute(sa.text("CREATE SCHEMA public"))
    conn.execute(sa.text(f'ALTER DATABASE "{url.database}" SET synchronous_commit = off'))
engine.dispose()
`;

async function startServer() {
  const perdure = join(repository, '.venv', 'bin', 'perdure');
  if (!existsSync(perdure)) throw new Error(`${perdure} is missing: run 'make .venv/.installed' at the repository root`);
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'perdure-ts-'));
  const adminToken = randomBytes(16).toString('hex');
  const postgres = process.env.PERDURE_TEST_DATABASE_URL?.trim();
  if (postgres) execFileSync(join(repository, '.venv', 'bin', 'python'), ['-c', RESET_POSTGRES, postgres], { stdio: 'inherit' });
  const databaseUrl = postgres || `sqlite+aiosqlite:///${directory}/perdure.db`;
  const child = spawn(perdure, ['dev', '--port', String(port)], {
    cwd: directory,
    env: { ...process.env, PERDURE_DATABASE_URL: databaseUrl, PERDURE_ADMIN_TOKEN: adminToken, PERDURE_LOG_LEVEL: 'warning' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`perdure dev did not start within 60 s:\n${output}`)), 60_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Press Ctrl+C')) {
        clearTimeout(timer);
        ok();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`perdure dev exited with ${code}:\n${output}`));
    });
  });
  child.stdout.resume();
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(directory, { recursive: true, force: true });
  };
  return { address: `http://127.0.0.1:${port}`, adminToken, stop };
}

const env = { ...process.env };
let stop = async () => {};
if (!process.env.PERDURE_ADDRESS) {
  const server = await startServer();
  env.PERDURE_ADDRESS = server.address;
  env.PERDURE_ADMIN_TOKEN = server.adminToken;
  stop = server.stop;
  console.log(`perdure dev at ${server.address} on ${process.env.PERDURE_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'}`);
}
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => process.argv.length <= 2 || process.argv.slice(2).some((want) => f.includes(want)))
  .map((f) => join(here, f));
const tests = spawn(process.execPath, ['--test', '--test-timeout=60000', ...files], { env, stdio: 'inherit' });
const code = await new Promise((ok) => tests.once('exit', (c) => ok(c ?? 1)));
await stop();
process.exit(code);
