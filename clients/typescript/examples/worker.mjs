// Serves the activity "greet" on task queue "greetings" until Ctrl+C (then finishes what runs).
// The connection comes from PERDURE_ADDRESS, PERDURE_API_KEY and PERDURE_NAMESPACE.
import { Connection, Context, Worker } from '@perdure/client';

const connection = await Connection.connect();
const worker = await Worker.create({
  connection,
  taskQueue: 'greetings',
  activities: {
    async greet({ name }) {
      Context.current().heartbeat({ greeting: name });
      return { greeting: `Hello, ${name}!` };
    },
  },
});
console.log('worker ready on task queue "greetings" (Ctrl+C stops it)');
await worker.run({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
