/**
 * `client.definitions`: stored workflow definitions (Amazon States Language) that the server
 * runs itself; start one with `client.workflow.start({ definition: name }, …)`.
 */
import { PagedList } from './common.js';
import type { components } from './generated/openapi.js';
import type { Connection } from './http.js';

export type Definition = components['schemas']['Definition'];

export class DefinitionClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
  ) {}

  /**
   * Store `document` as the next version of `name` (the same document again answers the
   * latest version unchanged). `InvalidArgumentError` lists every problem in `problem.errors`.
   */
  async put(name: string, document: Record<string, unknown>): Promise<Definition> {
    return this.connection.call('put', '/api/v1/namespaces/{namespace}/definitions/{name}', {
      path: { namespace: this.namespace, name },
      // The schema says only "an object"; the server validates the States Language itself.
      body: document as Record<string, never>,
    });
  }

  /** The latest version, or `version`. */
  async get(name: string, version?: number): Promise<Definition> {
    if (version === undefined) {
      return this.connection.call('get', '/api/v1/namespaces/{namespace}/definitions/{name}', {
        path: { namespace: this.namespace, name },
      });
    }
    return this.connection.call('get', '/api/v1/namespaces/{namespace}/definitions/{name}/versions/{version}', {
      path: { namespace: this.namespace, name, version },
    });
  }

  list(options: { pageSize?: number } = {}): PagedList<Definition> {
    return new PagedList(async (token) => {
      const page = await this.connection.call('get', '/api/v1/namespaces/{namespace}/definitions', {
        path: { namespace: this.namespace },
        query: { page_size: options.pageSize ?? 100, next_page_token: token ?? null },
      });
      return { items: page.definitions, next: page.next_page_token };
    });
  }

  /** Delete every version (`ConflictError` while runs of it are open). */
  async delete(name: string): Promise<void> {
    await this.connection.call('delete', '/api/v1/namespaces/{namespace}/definitions/{name}', {
      path: { namespace: this.namespace, name },
    });
  }
}
