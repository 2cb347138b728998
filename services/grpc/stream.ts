import { randomUUID } from "node:crypto";
import type { handleServerStreamingCall, ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { z } from "zod";
import { admitCall, header, type RpcContext } from "./handler.js";
import { toServiceError } from "./status.js";

/** Messages buffered per call before the handler waits for the transport to drain. */
const WRITE_WINDOW = 256;

/** Where a server-streaming handler writes, with backpressure and the caller's cancellation. */
export interface StreamSink<Res> {
  /** Queues one message; false when the transport's buffer is full: await {@link drained} then. */
  write(message: Res): boolean;
  /** Resolves when the buffer has room again, or the call is cancelled. */
  drained(): Promise<void>;
  /** Aborted when the caller cancels or goes away. */
  readonly signal: AbortSignal;
  /** Messages written so far (logged). */
  readonly count: number;
}

/**
 * Wraps one server-streaming RPC like {@link unary} wraps a unary one: validate with zod at the
 * edge → run, writing messages → end with OK, or with the one error mapping's status. One log line
 * per call (method, gRPC code, duration, request id, actor, messages sent; never a payload).
 */
export function serverStreaming<Req, Res, Input>(
  logger: Logger,
  method: string,
  schema: z.ZodType<Input>,
  run: (input: Input, ctx: RpcContext, sink: StreamSink<Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const started = performance.now();
    const requestId = header(call.metadata, "x-request-id") ?? randomUUID();
    const admitted = admitCall(logger, call, method);
    const actor = admitted.caller?.identity ?? "unauthenticated";
    const log = logger.child({ method, requestId, actor });
    const caller = admitted.caller ?? { identity: actor, via: "insecure_dev" as const, resources: [] };
    const ctx: RpcContext = { actor, requestId, now: Date.now, log, method, caller };
    const controller = new AbortController();
    const cancel = (): void => controller.abort(new Error("cancelled by the caller"));
    call.on("cancelled", cancel);
    call.on("close", cancel);
    let count = 0;
    const sink: StreamSink<Res> = {
      write(message: Res): boolean {
        count++;
        call.write(message);
        // grpc-js streams buffer 16 messages before asking for a drain; a larger window costs a few
        // hundred KB at most and saves an event-loop turn per 16 messages of a long replay.
        return call.writableLength < WRITE_WINDOW;
      },
      drained: () =>
        new Promise<void>((resolve) => {
          if (controller.signal.aborted) return resolve();
          const done = (): void => {
            call.off("drain", done);
            controller.signal.removeEventListener("abort", done);
            resolve();
          };
          call.once("drain", done);
          controller.signal.addEventListener("abort", done, { once: true });
        }),
      signal: controller.signal,
      get count() {
        return count;
      },
    };
    const finish = (code: number, error?: unknown): void => {
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (code === 13) log.error({ grpcCode: code, durationMs, messages: count, err: error }, "rpc failed");
      else log.info({ grpcCode: code, durationMs, messages: count }, "rpc");
    };
    const fail = (error: unknown): void => {
      const failure = toServiceError(error);
      finish(failure.code, error);
      if (!controller.signal.aborted) call.emit("error", failure);
    };
    if (admitted.caller === undefined) {
      fail(admitted.error);
      call.off("cancelled", cancel);
      call.off("close", cancel);
      return;
    }
    const parsed = schema.safeParse(call.request);
    if (!parsed.success) {
      fail(parsed.error);
      return;
    }
    Promise.resolve(parsed.data)
      .then((input) => run(input, ctx, sink))
      .then(
        () => {
          // 1: CANCELLED, when the caller went away before the end.
          finish(controller.signal.aborted ? 1 : 0);
          if (!controller.signal.aborted) call.end();
        },
        fail,
      )
      .finally(() => {
        call.off("cancelled", cancel);
        call.off("close", cancel);
      });
  };
}
