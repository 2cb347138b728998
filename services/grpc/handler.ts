import { randomUUID } from "node:crypto";
import { Metadata, type handleUnaryCall, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { z } from "zod";
import type { CommandContext } from "../commands/index.js";
import { unauthenticated } from "../domain/shared/errors.js";
import type { Caller, CallerGate, IncomingCall } from "./auth.js";
import { toServiceError } from "./status.js";

export interface RpcContext extends CommandContext {
  readonly log: Logger;
  readonly method: string;
  /** The authenticated caller (its identity is `actor`). */
  readonly caller: Caller;
  /** Adds trailing metadata to a successful unary answer (absent on streams). */
  readonly setTrailer?: (key: string, value: string) => void;
}

const PRINTABLE = /^[\x21-\x7e]{1,128}$/;

/** Told about every finished RPC (metrics); see {@link observeRpcs}. */
export interface RpcObserver {
  rpc(method: string, grpcCode: number, durationMs: number): void;
}

const observers = new WeakMap<Logger, RpcObserver>();

/**
 * Reports every RPC wrapped with `logger` (the logger the services are built with) to `observer`:
 * keyed by the logger so several ledgers in one process (tests) keep their own metrics.
 */
export function observeRpcs(logger: Logger, observer: RpcObserver): void {
  observers.set(logger, observer);
}

const gates = new WeakMap<Logger, CallerGate>();

/**
 * Puts every RPC wrapped with `logger` behind `gate` (authentication, authorization, rate limits),
 * keyed by the logger like {@link observeRpcs}. A wrapper whose logger has no gate refuses every
 * call (UNAUTHENTICATED): caller security fails closed.
 */
export function guardRpcs(logger: Logger, gate: CallerGate): void {
  gates.set(logger, gate);
}

/** Runs the gate for one call: the caller, or the error to answer with. */
export function admitCall(
  logger: Logger,
  call: IncomingCall,
  method: string,
  cost = 1,
): { caller: Caller; error?: undefined } | { caller?: undefined; error: unknown } {
  const gate = gates.get(logger);
  try {
    if (gate === undefined) throw unauthenticated("caller security is not configured on this server");
    return { caller: gate.admit(call, method, Date.now(), cost) };
  } catch (error) {
    return { error };
  }
}

export function header(metadata: Metadata, name: string): string | undefined {
  const value = metadata.get(name)[0];
  return typeof value === "string" && PRINTABLE.test(value) ? value : undefined;
}

/**
 * What the `x-actor` header says. Only `--insecure-dev` serving takes it as the caller's identity
 * (services/grpc/auth.ts); otherwise the identity comes from the certificate or API key.
 */
export const actorOf = (metadata: Metadata): string => header(metadata, "x-actor") ?? "anonymous";

/** Options of {@link unary}. */
export interface UnaryOptions<Req> {
  /**
   * What the call takes from the caller's rate-limit bucket, read from the undecoded request before
   * validation (the gate runs first); default 1.
   */
  readonly cost?: (request: Req) => number;
}

/**
 * One unary call's state and steps, and its {@link RpcContext}: a class rather than closures, so a
 * call allocates one object and no functions (under tsx every named closure also costs a
 * `__name` property definition per call). The request id and the child logger are made only when
 * something uses them: on the introspection hot path with info logging off, neither is.
 */
class UnaryCall<Res> implements RpcContext {
  readonly now = Date.now;
  readonly caller: Caller;
  #requestId: string | undefined;
  #log: Logger | undefined;
  /** Made only when a handler sets one: most answers carry no trailer of their own. */
  #trailers: Metadata | undefined;

  constructor(
    readonly logger: Logger,
    readonly method: string,
    readonly actor: string,
    caller: Caller | undefined,
    requestId: string | undefined,
    readonly started: number,
    readonly callback: sendUnaryData<Res>,
  ) {
    // Only read once the gate admitted the call (an unadmitted call never reaches a handler).
    this.caller = caller as Caller;
    this.#requestId = requestId;
  }

  get requestId(): string {
    return (this.#requestId ??= randomUUID());
  }

  get log(): Logger {
    return (this.#log ??= this.logger.child({ method: this.method, requestId: this.requestId, actor: this.actor }));
  }

  setTrailer(key: string, value: string): void {
    (this.#trailers ??= new Metadata()).set(key, value);
  }

  finish(code: number, error?: unknown): void {
    const durationMs = Math.round((performance.now() - this.started) * 1000) / 1000;
    if (code === 13) this.log.error({ grpcCode: code, durationMs, err: error }, "rpc failed");
    else if (this.logger.isLevelEnabled("info")) this.log.info({ grpcCode: code, durationMs }, "rpc");
    observers.get(this.logger)?.rpc(this.method, code, durationMs);
  }

  succeed(response: Res): void {
    this.finish(0);
    this.callback(null, response, this.#trailers);
  }

  fail(error: unknown, log = true): void {
    const failure = toServiceError(error);
    this.finish(failure.code, log ? error : undefined);
    this.callback(failure, null);
  }
}

/**
 * Wraps one unary RPC as named steps: validate with zod at the edge → run → respond, with one
 * structured log line per call (method, gRPC code, duration, request id, actor; never a payload).
 */
export function unary<Req, Res, Input>(
  logger: Logger,
  method: string,
  schema: z.ZodType<Input>,
  run: (input: Input, ctx: RpcContext) => Res | Promise<Res>,
  options: UnaryOptions<Req> = {},
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const started = performance.now();
    const body = call.request as { requestId?: unknown };
    const requestId =
      typeof body.requestId === "string" && PRINTABLE.test(body.requestId) ? body.requestId : header(call.metadata, "x-request-id");
    // Authenticate → authorize → rate limit, before the request is even validated.
    const admitted = admitCall(logger, call, method, options.cost?.(call.request) ?? 1);
    const ctx = new UnaryCall(logger, method, admitted.caller?.identity ?? "unauthenticated", admitted.caller, requestId, started, callback);
    if (admitted.caller === undefined) {
      ctx.fail(admitted.error);
      return;
    }
    const parsed = schema.safeParse(call.request);
    if (!parsed.success) {
      // Not logged as an error: a bad request is the caller's (its status says so).
      ctx.fail(parsed.error, false);
      return;
    }
    // A handler may answer synchronously (Introspect does when nothing needs waiting for): then no
    // promise is made for the call. A synchronous throw still gets its status and its log line (a
    // bare throw would reach grpc-js as UNKNOWN, unlogged).
    let result: Res | Promise<Res>;
    try {
      result = run(parsed.data, ctx);
    } catch (error) {
      ctx.fail(error);
      return;
    }
    if (isPromise(result)) {
      result.then(
        (response) => ctx.succeed(response),
        (error: unknown) => ctx.fail(error),
      );
    } else ctx.succeed(result);
  };
}

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> =>
  typeof (value as { then?: unknown } | null)?.then === "function";
