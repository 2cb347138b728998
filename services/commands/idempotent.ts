import type { CommandContext } from "./execute.js";
import { AlreadyAnswered, fingerprint } from "./idempotency.js";
import type { LedgerCommandDeps } from "./deps.js";

/** What one attempt of an idempotent command gets to work with. */
export interface Attempt<P> {
  /** msgId and idempotency key of this request. */
  readonly key: string;
  readonly fp: string;
  /** Values a previous attempt of the same request minted, if any. */
  readonly pending: P | undefined;
}

/**
 * Runs `command` at most once in effect per (actor, command, request_id): a recorded answer is
 * returned as is, otherwise `run` decides and appends (with the key as msgId) and its answer is
 * recorded.
 */
export async function idempotent<R, P = never>(
  deps: LedgerCommandDeps,
  ctx: CommandContext,
  command: string,
  input: unknown,
  run: (attempt: Attempt<P>) => Promise<R>,
): Promise<R> {
  const key = deps.idempotency.keyFor(ctx.actor, command, ctx.requestId);
  const fp = fingerprint(input);
  const recalled = await deps.idempotency.recall<P, R>(key, fp);
  if (recalled?.response !== undefined) return recalled.response;
  let response: R;
  try {
    response = await run({ key, fp, pending: recalled?.pending });
  } catch (error) {
    if (error instanceof AlreadyAnswered) return error.response as R;
    throw error;
  }
  deps.idempotency.remember(key, fp, response);
  return response;
}
