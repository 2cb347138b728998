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
    // The request id and the child logger are made only when something uses them: on the
    // introspection hot path with info logging off, neither is.
    let requestId =
      typeof body.requestId === "string" && PRINTABLE.test(body.requestId) ? body.requestId : header(call.metadata, "x-request-id");
    const requestIdOf = (): string => (requestId ??= randomUUID());
    // Authenticate → authorize → rate limit, before the request is even validated.
    const admitted = admitCall(logger, call, method, options.cost?.(call.request) ?? 1);
    const actor = admitted.caller?.identity ?? "unauthenticated";
    let log: Logger | undefined;
    const logOf = (): Logger => (log ??= logger.child({ method, requestId: requestIdOf(), actor }));
    const finish = (code: number, error?: unknown): void => {
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (code === 13) logOf().error({ grpcCode: code, durationMs, err: error }, "rpc failed");
      else if (logger.isLevelEnabled("info")) logOf().info({ grpcCode: code, durationMs }, "rpc");
      observers.get(logger)?.rpc(method, code, durationMs);
    };
    if (admitted.caller === undefined) {
      const failure = toServiceError(admitted.error);
      finish(failure.code, admitted.error);
      callback(failure, null);
      return;
    }
    // Made only when a handler sets one: most answers carry no trailer of their own.
    let trailers: Metadata | undefined;
    const ctx: RpcContext = {
      setTrailer: (key, value) => (trailers ??= new Metadata()).set(key, value),
      actor,
      get requestId() {
        return requestIdOf();
      },
      now: Date.now,
      get log() {
        return logOf();
      },
      method,
      caller: admitted.caller,
    };
    const parsed = schema.safeParse(call.request);
    if (!parsed.success) {
      const failure = toServiceError(parsed.error);
      finish(failure.code);
      callback(failure, null);
      return;
    }
    const succeed = (response: Res): void => {
      finish(0);
      callback(null, response, trailers);
    };
    const fail = (error: unknown): void => {
      const failure = toServiceError(error);
      finish(failure.code, error);
      callback(failure, null);
    };
    // A handler may answer synchronously (Introspect does when nothing needs waiting for): then no
    // promise is made for the call. A synchronous throw still gets its status and its log line (a
    // bare throw would reach grpc-js as UNKNOWN, unlogged).
    let result: Res | Promise<Res>;
    try {
      result = run(parsed.data, ctx);
    } catch (error) {
      fail(error);
      return;
    }
    if (isPromise(result)) result.then(succeed, fail);
    else succeed(result);
  };
}

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> =>
  typeof (value as { then?: unknown } | null)?.then === "function";
