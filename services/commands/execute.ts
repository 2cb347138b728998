import { concurrencyConflict, isDomainError } from "../domain/shared/errors.js";
import type { Decider } from "../domain/shared/decider.js";
import type { LedgerEvent } from "../domain/events.js";
import type { AggregateRef, EventLog } from "../eventlog/types.js";
import { mintEventId } from "../crypto/mint.js";
import type { AggregateStore, Loaded } from "./aggregate-store.js";

/** Who is asking, and the clock: passed in so command code never reads ambient time. */
export interface CommandContext {
  readonly actor: string;
  readonly requestId: string;
  readonly now: () => number;
}

export interface CommandDeps {
  readonly log: EventLog;
  readonly aggregates: AggregateStore;
  /** Re-decisions after an optimistic-concurrency conflict before giving up with ABORTED. */
  readonly retries: number;
  /** Told about appends and conflicts (metrics); optional. */
  readonly observer?: CommandObserver;
  /** How long a command rides out quick UNAVAILABLE failures (leader elections), ms; 0 or unset: not at all. */
  readonly unavailableRetryMs?: number;
}

/** Told about the write path's outcomes (metrics). */
export interface CommandObserver {
  /** A message was appended (or recognized as a duplicate by its msgId). */
  appended(aggregate: AggregateRef["kind"], duplicate: boolean): void;
  /** An append lost an optimistic-concurrency race (the command is decided again, bounded). */
  conflict(aggregate: AggregateRef["kind"]): void;
}

export interface CommandPlan<C, E extends LedgerEvent, S> {
  readonly aggregate: AggregateRef;
  readonly decider: Decider<C, E, S>;
  /** JetStream msgId: the same for every retry of one request, so a retry appends nothing new. */
  readonly msgId: string;
  /** True for an aggregate this command creates: no need to read the log first. */
  readonly isNew?: boolean;
  /**
   * Builds the command against the current state (`loaded` says where it stands in the log); may
   * load other aggregates it needs to read.
   */
  build(state: S, now: number, loaded: Loaded<S>): C | Promise<C>;
}

export interface CommandOutcome<E, S> {
  /** Stream sequence of the appended message; 0 when the decision appended nothing. */
  readonly seq: number;
  readonly events: readonly E[];
  readonly duplicate: boolean;
  readonly state: S;
}

/**
 * The write path, as named steps: load state → decide → append with optimistic concurrency and
 * dedupe → on a conflict reload and decide again, a bounded number of times. Rejections throw
 * before anything is appended.
 */
export async function execute<C, E extends LedgerEvent, S>(
  deps: CommandDeps,
  ctx: CommandContext,
  plan: CommandPlan<C, E, S>,
): Promise<CommandOutcome<E, S>> {
  const { aggregate, decider } = plan;
  for (let attempt = 0; attempt <= deps.retries; attempt++) {
    let loaded = await loadFor(deps, plan, attempt);
    const now = ctx.now();
    let command = await plan.build(loaded.state, now, loaded);
    let events: E[];
    try {
      try {
        events = decider.decide(command, loaded.state);
      } catch (error) {
        if (!(isDomainError(error) && attempt === 0)) throw error;
        // Optimistic concurrency only checks accepted decisions. A rejection decided on the cached
        // state may be stale (another process issued the token being revoked): re-check it on the log.
        const fresh = await deps.aggregates.load(aggregate, decider);
        if (fresh.version === loaded.version) throw error;
        loaded = fresh;
        command = await plan.build(loaded.state, now, loaded);
        events = decider.decide(command, loaded.state);
      }
    } catch (error) {
      // A retry whose first attempt landed (but whose answer was never recorded) is decided against a
      // state that already holds its own message: answer with that message, as msgId dedupe would.
      if (isDomainError(error)) {
        const own = await findOwnAppend<E, S>(deps, aggregate, plan.msgId, loaded.state);
        if (own !== undefined) return own;
      }
      throw error;
    }
    if (events.length === 0) {
      return (await findOwnAppend<E, S>(deps, aggregate, plan.msgId, loaded.state)) ?? { seq: 0, events, duplicate: false, state: loaded.state };
    }
    try {
      const result = await deps.log.append({
        aggregate,
        expectedVersion: loaded.version,
        msgId: plan.msgId,
        meta: { eventId: mintEventId(), at: now, actor: ctx.actor, requestId: ctx.requestId },
        prev: loaded.lastHash,
        events,
      });
      deps.observer?.appended(aggregate.kind, result.duplicate);
      const state = events.reduce((s, e) => decider.evolve(s, e), loaded.state);
      if (result.duplicate || result.hash === null) deps.aggregates.forget(aggregate);
      else {
        const firstVersion = loaded.firstVersion === 0 ? result.seq : loaded.firstVersion;
        deps.aggregates.remember(aggregate, { state, version: result.seq, lastHash: result.hash, firstVersion });
      }
      return { seq: result.seq, events, duplicate: result.duplicate, state };
    } catch (error) {
      if (!(isDomainError(error) && error.kind === "conflict")) throw error;
      deps.observer?.conflict(aggregate.kind);
      // The cached state is still a prefix of the log: the next attempt reads only what came after
      // it. A short random pause keeps writers that collided from colliding again in lockstep.
      await pause(Math.random() * Math.min(50, 2 ** attempt));
    }
  }
  throw concurrencyConflict(`too much contention on ${aggregate.kind} ${aggregate.id}; retry the request`);
}

async function loadFor<C, E extends LedgerEvent, S>(
  deps: CommandDeps,
  plan: CommandPlan<C, E, S>,
  attempt: number,
): Promise<Loaded<S>> {
  // First attempt trusts the cache (or, for a new aggregate, the empty state): optimistic
  // concurrency catches a stale guess, and the retry reads the log.
  if (attempt === 0) {
    const cached = deps.aggregates.cached<S>(plan.aggregate);
    if (cached !== undefined) return cached;
    if (plan.isNew === true) return { state: plan.decider.initialState, version: 0, lastHash: null, firstVersion: 0 };
  }
  return deps.aggregates.load(plan.aggregate, plan.decider);
}

/**
 * Only on the rejection path: the aggregate's message appended earlier by this same request (its
 * msgId is derived from actor, command and request id), if any. Its answer is the one a duplicate
 * append would get.
 */
async function findOwnAppend<E extends LedgerEvent, S>(
  deps: CommandDeps,
  aggregate: AggregateRef,
  msgId: string,
  state: S,
): Promise<CommandOutcome<E, S> | undefined> {
  const envelopes = await deps.log.readAggregate(aggregate);
  const own = envelopes.findLast((e) => e.msgId === msgId);
  return own === undefined ? undefined : { seq: own.seq, events: own.events as readonly E[], duplicate: true, state };
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
