// The TypeScript activity worker beside the Python SDK's: the same stored one-activity
// definition, run at each concurrency level by each worker in turn (alternated, so drift of
// the machine hits both alike). Prints throughput (runs/s), start-to-result latency (p50,
// p99) and the server's CPU per workflow (ms, from /proc of the server process).
//
// It starts its own `perdure dev` (SQLite) on a free 127.0.0.1 port, or, with
// PERDURE_TEST_DATABASE_URL, on that PostgreSQL database. Every level is bounded by -n runs
// and --timeout seconds.
//
//   cd clients/typescript && npm ci && cd ../.. && node bench/typescript.mjs -n 200 --concurrency 1 50 --rounds 2
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { Client, Connection, Worker } = await import(join(repository, 'clients/typescript/dist/index.js'));
const QUEUE = 'bench-ts';
const DEFINITION = {
  StartAt: 'Echo',
  States: { Echo: { Type: 'Task', Resource: `perdure:activity:${QUEUE}:echo`, ResultPath: '$.echoed', End: true } },
};
const PYTHON_WORKER = `
import asyncio, os, signal
from perdure import activity
from perdure.client import Client
from perdure.worker import Worker

@activity.defn
async def echo(value):
    return value

async def main():
    client = await Client.connect(os.environ["PERDURE_ADDRESS"], api_key=os.environ["PERDURE_API_KEY"],
                                  namespace=os.environ["PERDURE_NAMESPACE"])
    worker = Worker(client, task_queue="${QUEUE}", activities=[echo])
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.shutdown()))
    print("ready", flush=True)
    await worker.run()

asyncio.run(main())
`;

function options(argv) {
  const o = { n: 200, concurrency: [1, 50], rounds: 2, timeout: 120, workers: ['typescript', 'python'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-n') o.n = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--timeout') o.timeout = Number(argv[++i]);
    else if (a === '--concurrency' || a === '--workers') {
      const values = [];
      while (argv[i + 1] && !argv[i + 1].startsWith('-')) values.push(argv[++i]);
      if (a === '--concurrency') o.concurrency = values.map(Number);
      else o.workers = values;
    } else if (a === '--serve-typescript') o.serve = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function freePort() {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Start `command` and resolve once its stdout says `ready` (a line containing it). */
function startProcess(command, args, env, ready, cwd) {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${command} did not start:\n${out}`)), 60_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes(ready)) {
        clearTimeout(timer);
        child.stdout.resume();
        ok(child);
      }
    });
    child.once('exit', (code) => fail(new Error(`${command} exited with ${code}:\n${out}`)));
  });
}

async function stopProcess(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** User + system CPU seconds of a process (from /proc/<pid>/stat). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(/\s+/);
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function serveTypescript() {
  const connection = await Connection.connect();
  const worker = await Worker.create({ connection, taskQueue: QUEUE, activities: { echo: async (value) => value } });
  console.log('ready');
  await worker.run({ shutdownSignals: ['SIGTERM', 'SIGINT'] });
}

async function level(client, concurrency, n, timeoutSeconds) {
  const latencies = [];
  let next = 0;
  const deadline = Date.now() + timeoutSeconds * 1000;
  const started = performance.now();
  async function one() {
    while (next < n && Date.now() < deadline) {
      next++;
      const t0 = performance.now();
      const handle = await client.workflow.start({ definition: 'bench-ts' }, { workflowId: `b-${randomUUID()}`, input: { value: next } });
      await handle.result();
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, one));
  return { elapsed: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

async function main() {
  const o = options(process.argv.slice(2));
  if (o.serve) return serveTypescript();
  const directory = mkdtempSync(join(tmpdir(), 'perdure-bench-ts-'));
  const port = await freePort();
  const adminToken = randomBytes(16).toString('hex');
  const database = process.env.PERDURE_TEST_DATABASE_URL?.trim() || `sqlite+aiosqlite:///${directory}/perdure.db`;
  const serverEnv = { ...process.env, PERDURE_DATABASE_URL: database, PERDURE_ADMIN_TOKEN: adminToken, PERDURE_LOG_LEVEL: 'warning' };
  const server = await startProcess(join(repository, '.venv/bin/perdure'), ['dev', '--port', String(port)], serverEnv, 'Press Ctrl+C', directory);
  const address = `http://127.0.0.1:${port}`;
  try {
    const made = await fetch(`${address}/api/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench-${randomUUID().slice(0, 8)}` }),
    }).then((r) => r.json());
    const apiKey = made.api_key.key;
    const client = new Client({ connection: await Connection.connect({ address, apiKey }), namespace: 'default' });
    await client.definitions.put('bench-ts', DEFINITION);
    const workerEnv = { ...process.env, PERDURE_ADDRESS: address, PERDURE_API_KEY: apiKey, PERDURE_NAMESPACE: 'default' };
    console.log(`server ${address} (${process.env.PERDURE_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'}), ${o.n} runs a level, ${o.rounds} rounds`);
    console.log('worker      concurrency  runs   runs/s   p50 ms   p99 ms   server CPU ms/run');
    for (let round = 0; round < o.rounds; round++) {
      for (const concurrency of o.concurrency) {
        for (const kind of o.workers) {
          const worker =
            kind === 'python'
              ? await startProcess(join(repository, '.venv/bin/python'), ['-c', PYTHON_WORKER], workerEnv, 'ready')
              : await startProcess(process.execPath, [fileURLToPath(import.meta.url), '--serve-typescript'], workerEnv, 'ready');
          try {
            await level(client, Math.min(concurrency, 5), Math.min(concurrency, 5) * 2, o.timeout); // warm-up
            const cpu0 = cpuSeconds(server.pid);
            const { elapsed, latencies } = await level(client, concurrency, o.n, o.timeout);
            const cpu = cpuSeconds(server.pid) - cpu0;
            const runs = latencies.length;
            console.log(
              [
                kind.padEnd(11),
                String(concurrency).padStart(11),
                String(runs).padStart(5),
                (runs / elapsed).toFixed(1).padStart(8),
                percentile(latencies, 50).toFixed(1).padStart(8),
                percentile(latencies, 99).toFixed(1).padStart(8),
                ((cpu * 1000) / runs).toFixed(2).padStart(19),
              ].join(' '),
            );
          } finally {
            await stopProcess(worker);
          }
        }
      }
    }
  } finally {
    await stopProcess(server);
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
