import type { IncomingMessage } from "node:http";

/** What an endpoint answers; the server writes it (JSON, no-store) and logs it. */
export interface Reply {
  readonly status: number;
  /** JSON body; undefined for an empty one. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One request as an endpoint sees it. */
export interface HttpContext {
  /**
   * Minted per request, never taken from the client: the commands' idempotency key (a client
   * choosing it could replay a recorded answer, or collide with another request) and the request id
   * its events record. The client's own `x-request-id` is only logged and echoed.
   */
  readonly requestId: string;
  readonly now: () => number;
  /** For the log line: the client or caller the request turned out to be (never a secret). */
  who?: string;
}

export type Endpoint = (request: IncomingMessage, ctx: HttpContext) => Promise<Reply>;

export const json = (body: unknown, headers?: Readonly<Record<string, string>>): Reply => ({ status: 200, body, ...(headers === undefined ? {} : { headers }) });
