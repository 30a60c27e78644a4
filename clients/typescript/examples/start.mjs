// Stores the definition "greeting" (one Task: activity "greet" on task queue "greetings"; the
// same document again changes nothing), starts a run of it and prints the result.
import { Client } from '@perdure/client';

const client = await Client.connect();
await client.definitions.put('greeting', {
  StartAt: 'Greet',
  States: {
    Greet: { Type: 'Task', Resource: 'perdure:activity:greetings:greet', TimeoutSeconds: 60, HeartbeatSeconds: 10, End: true },
  },
});
const result = await client.workflow.execute(
  { definition: 'greeting' },
  { workflowId: `greeting-${Date.now()}`, input: { name: process.argv[2] ?? 'world' } },
);
console.log(JSON.stringify(result));
