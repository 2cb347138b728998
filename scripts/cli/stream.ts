import { parseArgs } from "node:util";
import type { AggregateKind, RecordedEnvelope } from "../../services/eventlog/types.js";
import { auditConfig, openStream, UsageError, withUsage } from "./audit-common.js";

/** Exit code of a command stopped by Ctrl-C before it finished (128 + SIGINT). */
export const INTERRUPTED = 130;

/** An AbortController aborted by the first SIGINT/SIGTERM; `dispose` removes the handlers. */
export function interruptible(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** Progress on stderr, only on a terminal: one line rewritten in place. */
function progress(done: number, total: number, startedMs: number): void {
  if (!process.stderr.isTTY) return;
  const seconds = (Date.now() - startedMs) / 1000;
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
  process.stderr.write(`\r  counting event types: ${done}/${total} messages (${Math.round(rate)}/s, ETA ${eta}s)   `);
}

/**
 * `grant-ledger stream info [--stream NAME] [--no-types] [--json]`: the stream's messages, bytes,
 * first/last sequence and time, aggregates (subjects), and, by reading every message (progress on
 * a terminal; `--no-types` skips it), messages per aggregate kind and events per type. Exit 0; 1 when NATS fails; 2 on bad usage; 130 on Ctrl-C.
 */
export function streamInfo(args: string[]): Promise<number> {
  return withUsage(async () => {
    const { values } = parse(() =>
      parseArgs({ args, options: { stream: { type: "string" }, "no-types": { type: "boolean" }, json: { type: "boolean" } }, strict: true }),
    );
    const config = auditConfig();
    const log = await openStream(config, values.stream ?? config.stream);
    const interrupt = interruptible();
    try {
      const state = (await log.jsm.streams.info(log.stream)).state;
      const aggregates = state.num_subjects ?? 0;
      const byKind: Record<string, number> = {};
      const byType: Record<string, number> = {};
      let events = 0;
      let interrupted = false;
      if (values["no-types"] !== true && state.messages > 0) {
        const started = Date.now();
        let done = 0;
        try {
          for await (const envelope of log.follow(state.first_seq, interrupt.signal)) {
            byKind[envelope.aggregate.kind] = (byKind[envelope.aggregate.kind] ?? 0) + 1;
            for (const event of envelope.events) {
              byType[event.type] = (byType[event.type] ?? 0) + 1;
              events++;
            }
            done++;
            if (done % 1000 === 0) progress(done, state.messages, started);
            if (envelope.seq >= state.last_seq) break;
          }
        } catch (error) {
          if (!interrupt.signal.aborted) throw error;
        }
        interrupted = interrupt.signal.aborted;
        if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
      }
      const report = {
        stream: log.stream,
        messages: state.messages,
        bytes: state.bytes,
        bytesPerMessage: state.messages === 0 ? 0 : Math.round(state.bytes / state.messages),
        firstSeq: state.first_seq,
        firstAt: state.first_ts,
        lastSeq: state.last_seq,
        lastAt: state.last_ts,
        aggregates,
        ...(values["no-types"] === true ? {} : { messagesByAggregateKind: byKind, events, eventsByType: byType, complete: !interrupted }),
      };
      if (values.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        const out = [
          `stream     ${report.stream}`,
          `messages   ${report.messages} (${report.bytes} bytes, ${report.bytesPerMessage} bytes/message)`,
          `first      seq ${report.firstSeq} at ${report.messages === 0 ? "-" : report.firstAt}`,
          `last       seq ${report.lastSeq} at ${report.messages === 0 ? "-" : report.lastAt}`,
          `aggregates ${aggregates}${values["no-types"] === true ? "" : ` (${Object.entries(byKind).map(([k, n]) => `${k}: ${n} messages`).join(", ") || "none"})`}`,
        ];
        if (values["no-types"] !== true) {
          out.push(`events     ${events}${interrupted ? " (interrupted: partial counts)" : ""}`);
          for (const [type, n] of Object.entries(byType).sort((a, b) => b[1] - a[1])) out.push(`  ${type.padEnd(32)} ${n}`);
        }
        process.stdout.write(`${out.join("\n")}\n`);
      }
      return interrupted ? INTERRUPTED : 0;
    } finally {
      interrupt.dispose();
      await log.close();
    }
  });
}

const KINDS: readonly AggregateKind[] = ["client", "grant", "subject", "checkpoint"];

/**
 * `grant-ledger tail [--type T]... [--aggregate KIND[:ID]] [--from SEQ | --last N] [--stream NAME]`:
 * live events as JSON lines (one per event: seq, time, aggregate, type, actor, request id; never a
 * payload field that could hold a secret: events hold none, but tail prints only metadata). `--type`
 * takes a type (`grant.revoked`) or a prefix (`token.`). Runs until Ctrl-C (exit 0).
 */
export function tail(args: string[]): Promise<number> {
  return withUsage(async () => {
    const { values } = parse(() =>
      parseArgs({
        args,
        options: {
          type: { type: "string", multiple: true },
          aggregate: { type: "string" },
          from: { type: "string" },
          last: { type: "string" },
          stream: { type: "string" },
        },
        strict: true,
      }),
    );
    const types = values.type ?? [];
    const [kind, id] = values.aggregate === undefined ? [undefined, undefined] : splitAggregate(values.aggregate);
    const number = (name: string, value: string | undefined): number | undefined => {
      if (value === undefined) return undefined;
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name}: expected a non-negative integer, got "${value}"`);
      return n;
    };
    const from = number("from", values.from);
    const last = number("last", values.last);
    if (from !== undefined && last !== undefined) throw new UsageError("--from and --last exclude each other");
    const config = auditConfig();
    const log = await openStream(config, values.stream ?? config.stream);
    const interrupt = interruptible();
    try {
      const head = await log.headSequence();
      const start = from ?? (last !== undefined ? Math.max(1, head - last + 1) : head + 1);
      process.stderr.write(`tailing ${log.stream} from seq ${start} (head ${head}); Ctrl-C stops\n`);
      const matches = (envelope: RecordedEnvelope, type: string): boolean =>
        (kind === undefined || envelope.aggregate.kind === kind) &&
        (id === undefined || envelope.aggregate.id === id) &&
        (types.length === 0 || types.some((t) => (t.endsWith(".") ? type.startsWith(t) : type === t)));
      try {
        for await (const envelope of log.follow(start, interrupt.signal)) {
          for (const event of envelope.events) {
            if (!matches(envelope, event.type)) continue;
            const line = {
              seq: envelope.seq,
              at: new Date(envelope.storedAt).toISOString(),
              aggregate: `${envelope.aggregate.kind}:${envelope.aggregate.id}`,
              type: event.type,
              actor: envelope.actor,
              requestId: envelope.requestId,
            };
            process.stdout.write(`${JSON.stringify(line)}\n`);
          }
        }
      } catch (error) {
        if (!interrupt.signal.aborted) throw error;
      }
      return 0;
    } finally {
      interrupt.dispose();
      await log.close();
    }
  });
}

function splitAggregate(value: string): [AggregateKind, string | undefined] {
  const at = value.indexOf(":");
  const kind = (at < 0 ? value : value.slice(0, at)) as AggregateKind;
  if (!KINDS.includes(kind)) throw new UsageError(`--aggregate: kind must be one of ${KINDS.join(", ")}, got "${kind}"`);
  const id = at < 0 ? undefined : value.slice(at + 1);
  return [kind, id === "" ? undefined : id];
}

function parse<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
