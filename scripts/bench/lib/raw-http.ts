/**
 * A cheap HTTP/1.1 client for the introspection benchmarks: raw `net` sockets with keep-alive, one
 * request in flight per socket, requests encoded once per token up front, and only as much of the
 * response parsed as a check needs (status line, Content-Length, the `active` member).
 *
 * Why: node:http's client costs ~90 µs CPU per request, about as much as the servers it measures,
 * and it shares the machine's 2 cores with them; a load generator that expensive caps every server
 * at the same rate and hides the difference between them. Both sides of a comparison use this same
 * client with the same settings.
 */
import { connect, type Socket } from "node:net";

/** How a response was judged. */
export type Verdict = "active" | "inactive";

export interface RawHttpTarget {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Header lines (without CRLF) sent with every request, e.g. `Authorization: Basic …`. */
  readonly headers: readonly string[];
}

/** One POST per form body, encoded once: the only per-request work left is picking one. */
export function encodeRequests(target: RawHttpTarget, bodies: readonly string[]): Buffer[] {
  const head = [`POST ${target.path} HTTP/1.1`, `Host: ${target.host}:${target.port}`, ...target.headers].join("\r\n");
  return bodies.map((body) => Buffer.from(`${head}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, "latin1"));
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
const ACTIVE = Buffer.from('"active":');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i;
const CLOSE = /\r\nconnection:[ \t]*close/i;
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

interface Pending {
  readonly request: Buffer;
  readonly resolve: (verdict: Verdict) => void;
  readonly reject: (error: Error) => void;
  /** Whether this request was already resent once on a fresh socket. */
  readonly retried: boolean;
}

/**
 * One keep-alive connection with at most one request in flight. A server that closed the idle
 * socket (keep-alive timeout between runs) is reconnected on the next request; a request that got
 * no byte back before the socket closed is sent once more on a fresh socket (introspection is a
 * read: resending it is safe), any other failure rejects.
 */
export class RawHttpConnection {
  readonly #host: string;
  readonly #port: number;
  /** Parse every n-th response fully with JSON.parse (well-formedness), besides the cheap checks. */
  readonly #parseEvery: number;
  #socket: Socket | undefined;
  #pending: Pending | undefined;
  #received: Buffer | undefined;
  #answered = 0;

  constructor(host: string, port: number, parseEvery = 16) {
    this.#host = host;
    this.#port = port;
    this.#parseEvery = parseEvery;
  }

  send(request: Buffer): Promise<Verdict> {
    if (this.#pending !== undefined) return Promise.reject(new Error("one request in flight per connection"));
    return new Promise((resolve, reject) => this.#write({ request, resolve, reject, retried: false }));
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #write(pending: Pending): void {
    this.#pending = pending;
    this.#received = undefined;
    (this.#socket ?? this.#open()).write(pending.request);
  }

  #open(): Socket {
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => undefined); // "close" follows and settles the request.
    socket.on("close", () => {
      // A socket this connection already let go of (close()) settles nothing: its request was.
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const pending = this.#pending;
      if (pending === undefined) return;
      this.#pending = undefined;
      if (this.#received === undefined && !pending.retried) this.#write({ ...pending, retried: true });
      else pending.reject(new Error("connection closed before the response was complete"));
    });
    return socket;
  }

  #onData(chunk: Buffer): void {
    const data = this.#received === undefined ? chunk : Buffer.concat([this.#received, chunk]);
    this.#received = data;
    const pending = this.#pending;
    if (pending === undefined) {
      this.#fail(new Error("bytes received with no request in flight"));
      return;
    }
    const headerEnd = data.indexOf(CRLFCRLF);
    if (headerEnd === -1) return;
    const head = data.toString("latin1", 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head)?.[1];
    if (length === undefined) {
      this.#fail(new Error(CHUNKED.test(head) ? "chunked responses are not supported" : "response without Content-Length"));
      return;
    }
    const bodyStart = headerEnd + 4;
    const bodyEnd = bodyStart + Number(length);
    if (data.length < bodyEnd) return;
    if (data.length > bodyEnd) {
      this.#fail(new Error("more bytes than one response"));
      return;
    }
    this.#pending = undefined;
    this.#received = undefined;
    if (CLOSE.test(head)) this.close();
    const status = head.slice(9, 12);
    if (status !== "200") {
      pending.reject(new Error(`HTTP ${status}: ${data.toString("utf8", bodyStart, Math.min(bodyEnd, bodyStart + 200))}`));
      return;
    }
    try {
      pending.resolve(this.#verdict(data, bodyStart, bodyEnd));
    } catch (error) {
      pending.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** `"active":` followed (after optional whitespace: Koa pretty-prints) by `true`. */
  #verdict(data: Buffer, bodyStart: number, bodyEnd: number): Verdict {
    if (++this.#answered % this.#parseEvery === 0) {
      const parsed = JSON.parse(data.toString("utf8", bodyStart, bodyEnd)) as { active?: unknown };
      if (typeof parsed.active !== "boolean") throw new Error("a response without a boolean `active`");
    }
    const at = data.indexOf(ACTIVE, bodyStart);
    if (at === -1 || at >= bodyEnd) throw new Error("a response without `active`");
    let i = at + ACTIVE.length;
    while (i < bodyEnd && SPACE.has(data[i] as number)) i++;
    return data[i] === 0x74 /* t */ ? "active" : "inactive";
  }

  #fail(error: Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.#received = undefined;
    this.close();
    pending?.reject(error);
  }
}
