/** Perdure's TypeScript client and activity worker. */
export * from './batch.js';
export * from './client.js';
export { encodeArgs, msOf, PagedList, splitArgs, type Duration, type RetryPolicy } from './common.js';
export * from './definitions.js';
export * from './deployments.js';
export * from './errors.js';
export * from './handle.js';
export * from './operator.js';
export { Connection, DEFAULT_ADDRESS, type ConnectionOptions } from './http.js';
export * from './schedules.js';
export * from './workflows.js';
export * from './context.js';
export * from './worker.js';
export * from './webhooks.js';
export * from './updates.js';
