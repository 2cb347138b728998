import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Logger } from "pino";
import type { OAuthCommandDeps } from "../commands/index.js";
import type { Keyring } from "../crypto/keys.js";
import { tokenIntrospector, type CallerGate, type Freshness, type ReadModel, type Staleness } from "../grpc/index.js";
import { ResourceServerAuth } from "./caller.js";
import { toHttpError } from "./errors.js";
import { DEFAULT_FORM_LIMITS, type FormLimits } from "./form.js";
import { introspectionEndpoint } from "./introspection-endpoint.js";
import { metadataEndpoint, PATHS } from "./metadata.js";
import type { Endpoint, HttpContext, Reply } from "./reply.js";
import { revocationEndpoint } from "./revocation-endpoint.js";
import { tokenEndpoint } from "./token-endpoint.js";

/** Told about every answered request (metrics). */
export interface HttpObserver {
  /** `path` is one of the endpoints' paths, or "(unknown)"; `error` the OAuth error code, if any. */
  http(path: string, status: number, error: string | undefined, durationMs: number): void;
}

/** What the HTTP endpoints are built from: the same commands, read model and caller gate as gRPC. */
export interface HttpDeps {
  readonly logger: Logger;
  readonly observer?: HttpObserver | undefined;
  readonly commands: OAuthCommandDeps;
  readonly readModel: ReadModel;
  /** How far the read model has applied the log: token and revocation answers wait for their write. */
  readonly freshness: Freshness;
  /** Longest such wait (GL_MIN_SEQUENCE_WAIT_MS). */
  readonly readYourWritesMs: number;
  readonly keyring: Keyring;
  readonly gate: CallerGate;
  /** Introspection fails closed (503) while the read model is beyond the staleness bound. */
  readonly staleness?: Staleness | undefined;
  /** The scope catalog's names, for the metadata. */
  readonly scopes: readonly string[];
  readonly maxScopesPerGrant: number;
}

/** Where and how the HTTP port listens. */
export interface HttpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** PEM server certificate and key; absent only under --insecure-dev (config keeps that on loopback). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer | undefined } | undefined;
  /** The issuer identifier (RFC 8414); default `<scheme>://<host>:<port>`. */
  readonly issuer?: string | undefined;
  readonly form?: FormLimits;
}

export interface HttpServer {
  readonly port: number;
  readonly issuer: string;
  close(): Promise<void>;
}

const PRINTABLE = /^[\x21-\x7e]{1,128}$/;

/** Every answer is JSON that no cache may keep (RFC 6749 §5.1), never sniffed. */
const DEFAULT_HEADER_OBJECT: Readonly<Record<string, string>> = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  pragma: "no-cache",
  "x-content-type-options": "nosniff",
};
const DEFAULT_HEADERS: readonly string[] = Object.entries(DEFAULT_HEADER_OBJECT).flat();

interface Route {
  readonly method: "GET" | "POST";
  readonly endpoint: Endpoint;
}

/**
 * One request's answer and log line: a class rather than per-request closures, so a request
 * allocates one object and no functions (under tsx every named closure also costs a `__name`
 * property definition per request).
 */
class Exchange {
  readonly started = performance.now();
  readonly ctx: HttpContext = { requestId: randomUUID(), now: Date.now };

  constructor(
    readonly deps: HttpDeps,
    readonly request: IncomingMessage,
    readonly response: ServerResponse,
    /** The endpoint's path, or "(unknown)". */
    readonly where: string,
    readonly clientRequestId: string | undefined,
  ) {}

  finish(reply: Reply, error?: unknown): void {
    const { deps, request, response, ctx, clientRequestId, where } = this;
    const body = reply.body === undefined ? "" : JSON.stringify(reply.body);
    const requestId = clientRequestId ?? ctx.requestId;
    const length = Buffer.byteLength(body);
    // The usual answer (no headers of its own) as a flat name/value list: no object built and
    // walked per response. An endpoint's own headers may replace the defaults (metadata caches).
    response.writeHead(
      reply.status,
      reply.headers === undefined
        ? [...DEFAULT_HEADERS, "x-request-id", requestId, "content-length", String(length)]
        : { ...DEFAULT_HEADER_OBJECT, "x-request-id": requestId, "content-length": length, ...reply.headers },
    );
    response.end(body);
    // A body we stopped reading (too large) is not drained: the connection goes with the answer.
    if (reply.headers?.["connection"] === "close") response.once("finish", () => request.destroy());
    const status = reply.status;
    const code = status >= 400 ? (reply.body as { error?: string } | undefined)?.error : undefined;
    const durationMs = Math.round((performance.now() - this.started) * 1000) / 1000;
    deps.observer?.http(where, status, code, durationMs);
    if (status >= 500 || deps.logger.isLevelEnabled("info")) {
      const line = {
        method: request.method,
        path: where,
        status,
        ...(code === undefined ? {} : { error: code }),
        durationMs,
        requestId: ctx.requestId,
        ...(clientRequestId === undefined ? {} : { clientRequestId }),
        ...(ctx.who === undefined ? {} : { client: ctx.who }),
      };
      if (status === 500) deps.logger.error({ ...line, err: error }, "http request failed");
      else deps.logger.info(line, "http");
    }
  }

  fail(error: unknown): void {
    const http = toHttpError(error);
    this.finish({ status: http.status, body: { error: http.code, error_description: http.message }, headers: http.headers }, error);
  }
}

/**
 * The OAuth HTTP port (`--roles http`): node:http(s) only, four routes, each a thin endpoint over
 * the commands and read model. Every answer is JSON with `Cache-Control: no-store` (tokens and
 * introspection results must not be cached, RFC 6749 §5.1); one structured log line per request
 * (method, path, status, OAuth error, duration, request id, client or caller — never a parameter).
 */
export async function startHttpServer(deps: HttpDeps, options: HttpServerOptions): Promise<HttpServer> {
  const form = options.form ?? DEFAULT_FORM_LIMITS;
  let issuer = options.issuer ?? "";
  const issuerOf = (): string => issuer;
  const routes = new Map<string, Route>([
    [PATHS.token, { method: "POST", endpoint: tokenEndpoint({ ...deps, form }) }],
    [
      PATHS.introspection,
      {
        method: "POST",
        endpoint: introspectionEndpoint({
          callers: new ResourceServerAuth(deps),
          introspect: tokenIntrospector(deps),
          appliedSeq: () => deps.freshness.appliedSeq(),
          staleness: deps.staleness,
          issuer: issuerOf,
          form,
        }),
      },
    ],
    [PATHS.revocation, { method: "POST", endpoint: revocationEndpoint({ ...deps, form }) }],
    [PATHS.metadata, { method: "GET", endpoint: metadataEndpoint(issuerOf, deps.scopes) }],
  ]);

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const header = request.headers["x-request-id"];
    const clientRequestId = typeof header === "string" && PRINTABLE.test(header) ? header : undefined;
    const path = (request.url ?? "/").split("?", 1)[0] ?? "/";
    const route = routes.get(path);
    const exchange = new Exchange(deps, request, response, route === undefined ? "(unknown)" : path, clientRequestId);
    if (route === undefined) {
      exchange.finish({ status: 404, body: { error: "not_found", error_description: `no endpoint at this path; see ${PATHS.metadata}` } });
      return;
    }
    if (request.method !== route.method) {
      exchange.finish({ status: 405, body: { error: "invalid_request", error_description: `use ${route.method}` }, headers: { allow: route.method } });
      return;
    }
    route.endpoint(request, exchange.ctx).then(
      (reply) => exchange.finish(reply),
      (error: unknown) => exchange.fail(error),
    );
  };

  const server: Server = options.tls === undefined
    ? createHttpServer({ maxHeaderSize: 8192 }, handle)
    : createHttpsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          maxHeaderSize: 8192,
          // A client certificate is optional here (OAuth clients on the token endpoint have none);
          // when one is presented and the CA signed it, introspection callers may use it.
          ...(options.tls.clientCa === undefined ? {} : { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: false }),
        },
        handle,
      );
  // Slow or stalled clients do not hold sockets: headers within 10 s, the whole request within 15 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = address !== null && typeof address === "object" ? address.port : options.port;
  if (issuer === "") {
    const host = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
    issuer = `${options.tls === undefined ? "http" : "https"}://${host}:${port}`;
  }
  return {
    port,
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get a moment; then whatever is left is cut.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}
