import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { parseArgs } from "node:util";
import type { AuditFilter } from "../../services/audit/filter.js";
import { type AuditRecord, recordToJson } from "../../services/audit/records.js";
import { replayEvents } from "../../services/audit/replay.js";
import { loadConfig } from "../../services/config/config.js";
import { connectEventLog, type AggregateKind, type JetStreamEventLog } from "../../services/eventlog/index.js";

const HELP = `grant-ledger audit replay [filters] [options]

Streams events straight from the JetStream log at NATS_URL (not through the service), in stream
order. Filters combine with AND:
  --aggregate KIND:ID     one aggregate: client:<id>, grant:<id>, subject:<user>, checkpoint:log
  --subject USER          events concerning a user (their grants, tokens, revocations)
  --client ID             events of an app (its registration and every grant and token under it)
  --resource ID           events of grants covering a resource
  --actor WHO             events recorded with this actor
  --type TYPE             an event type; repeat or comma-separate for several
  --from-time T --to-time T   decision time in [from, to): ISO 8601 or epoch milliseconds
  --from-seq N --to-seq N     stream sequences, inclusive
Options:
  --format jsonl|table    output format (default jsonl: one JSON object per event)
  --follow                keep streaming new events (Ctrl-C ends it)
  --output FILE           write to FILE instead of stdout (a progress bar shows on a terminal)
  --stream NAME           stream name (default GL_STREAM or LEDGER)

Exit codes: 0 done (or a --follow ended with Ctrl-C), 1 failure (NATS unreachable, stream missing,
undecodable message, write error), 2 bad usage, 130 interrupted before the end.
`;

class UsageError extends Error {}

const AGGREGATE_KINDS: readonly AggregateKind[] = ["client", "grant", "subject", "checkpoint"];

function parseTime(value: string, flag: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: "${value}" is not an ISO 8601 time or epoch milliseconds`);
  return ms;
}

function parseSeq(value: string, flag: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: "${value}" is not a stream sequence`);
  return Number(value);
}

interface ReplayArgs {
  readonly filter: AuditFilter;
  readonly format: "jsonl" | "table";
  readonly follow: boolean;
  readonly output?: string;
  readonly stream?: string;
}

export function parseReplayArgs(args: string[]): ReplayArgs | "help" {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      aggregate: { type: "string" },
      subject: { type: "string" },
      client: { type: "string" },
      resource: { type: "string" },
      actor: { type: "string" },
      type: { type: "string", multiple: true },
      "from-time": { type: "string" },
      "to-time": { type: "string" },
      "from-seq": { type: "string" },
      "to-seq": { type: "string" },
      format: { type: "string", default: "jsonl" },
      follow: { type: "boolean", default: false },
      output: { type: "string", short: "o" },
      stream: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return "help";
  const filter: { -readonly [K in keyof AuditFilter]: AuditFilter[K] } = {};
  if (values.aggregate !== undefined) {
    const colon = values.aggregate.indexOf(":");
    const kind = values.aggregate.slice(0, colon) as AggregateKind;
    const id = values.aggregate.slice(colon + 1);
    if (colon < 1 || id === "" || !AGGREGATE_KINDS.includes(kind)) {
      throw new UsageError(`--aggregate: expected KIND:ID with KIND one of ${AGGREGATE_KINDS.join(", ")}`);
    }
    filter.aggregate = { kind, id };
  }
  if (values.subject !== undefined) filter.subject = values.subject;
  if (values.client !== undefined) filter.clientId = values.client;
  if (values.resource !== undefined) filter.resource = values.resource;
  if (values.actor !== undefined) filter.actor = values.actor;
  const types = (values.type ?? []).flatMap((t) => t.split(",")).map((t) => t.trim()).filter((t) => t !== "");
  if (types.length > 0) filter.types = [...new Set(types)];
  if (values["from-time"] !== undefined) filter.fromTime = parseTime(values["from-time"], "--from-time");
  if (values["to-time"] !== undefined) filter.toTime = parseTime(values["to-time"], "--to-time");
  if (values["from-seq"] !== undefined) filter.fromSeq = parseSeq(values["from-seq"], "--from-seq");
  if (values["to-seq"] !== undefined) filter.toSeq = parseSeq(values["to-seq"], "--to-seq");
  if (filter.fromTime !== undefined && filter.toTime !== undefined && filter.fromTime > filter.toTime) {
    throw new UsageError("--to-time is before --from-time");
  }
  if (filter.fromSeq !== undefined && filter.toSeq !== undefined && filter.fromSeq > filter.toSeq) {
    throw new UsageError("--to-seq is below --from-seq");
  }
  if (values.format !== "jsonl" && values.format !== "table") throw new UsageError(`--format: "${values.format}" is not jsonl or table`);
  return {
    filter,
    format: values.format,
    follow: values.follow,
    ...(values.output === undefined ? {} : { output: values.output }),
    ...(values.stream === undefined ? {} : { stream: values.stream }),
  };
}

const pad = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));

const TABLE_HEADER = `${"SEQ.IDX".padStart(10)}  ${pad("TIME", 24)}  ${pad("TYPE", 26)}  ${pad("ACTOR", 18)}  ${pad("AGGREGATE", 32)}  PAYLOAD\n`;

const tableLine = (r: AuditRecord): string =>
  `${`${r.seq}.${r.index}`.padStart(10)}  ${pad(new Date(r.at).toISOString(), 24)}  ${pad(`${r.type}@${r.schemaVersion}`, 26)}  ` +
  `${pad(r.actor, 18)}  ${pad(`${r.aggregate.kind}:${r.aggregate.id}`, 32)}  ${JSON.stringify(r.payload)}\n`;

const jsonLine = (r: AuditRecord): string => `${JSON.stringify(recordToJson(r))}\n`;

/**
 * Buffers lines into large writes (a replay emits far more lines than a stream wants write calls),
 * flushed when big enough or once the replay pauses (so --follow shows new events at once), and
 * waits on backpressure.
 */
class LineWriter {
  #buffer = "";
  #scheduled: NodeJS.Immediate | undefined;
  #failed: Error | undefined;
  constructor(private readonly out: Writable) {
    out.on("error", (error: Error) => {
      this.#failed ??= error;
    });
  }
  get failed(): Error | undefined {
    return this.#failed;
  }
  async write(line: string): Promise<void> {
    this.#buffer += line;
    if (this.#buffer.length >= 64 * 1024) await this.flush();
    else this.#scheduled ??= setImmediate(() => void this.flush());
  }
  async flush(): Promise<void> {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#buffer === "" || this.#failed !== undefined) return;
    const chunk = this.#buffer;
    this.#buffer = "";
    if (!this.out.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.out.off("drain", done);
          this.out.off("error", done);
          this.out.off("close", done);
          resolve();
        };
        this.out.on("drain", done).on("error", done).on("close", done);
      });
    }
  }
  async end(): Promise<void> {
    await this.flush();
    if (this.out === process.stdout) return;
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}

/** A one-line progress bar on stderr, redrawn at most every 100 ms. */
class Progress {
  #last = 0;
  #events = 0;
  readonly #started = performance.now();
  constructor(private readonly stream: NodeJS.WriteStream) {}
  event(): void {
    this.#events++;
  }
  update(seq: number, endSeq: number, force = false): void {
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const rate = Math.round(seq / Math.max(0.001, (now - this.#started) / 1000));
    const width = 30;
    let bar: string;
    if (Number.isFinite(endSeq) && endSeq > 0) {
      const done = Math.min(1, seq / endSeq);
      const filled = Math.round(done * width);
      bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(done * 100).toFixed(1).padStart(5)}%  seq ${seq}/${endSeq}`;
    } else {
      bar = `following  seq ${seq}`;
    }
    this.stream.write(`\r${bar}  ${this.#events} events  ${rate} msg/s\u001b[K`);
  }
  done(): void {
    this.stream.write("\n");
  }
}

/** `grant-ledger audit replay`: see {@link HELP}. */
export async function auditReplay(args: string[]): Promise<number> {
  let parsed: ReplayArgs | "help";
  let config;
  try {
    parsed = parseReplayArgs(args);
    config = loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 2;
  }
  if (parsed === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (config.natsUrl === undefined) {
    process.stderr.write("NATS_URL is not set: audit replay reads the log itself (e.g. NATS_URL=nats://127.0.0.1:4222)\n");
    return 2;
  }

  let log: JetStreamEventLog;
  try {
    log = await connectEventLog({
      servers: config.natsUrl,
      stream: parsed.stream ?? config.stream,
      subjectRoot: config.subjectRoot,
      ensureStream: false,
      name: "grant-ledger-audit-replay",
      maxReconnectAttempts: 20,
    });
  } catch (error) {
    process.stderr.write(`cannot connect to ${config.natsUrl}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  const controller = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);

  const out: Writable = parsed.output === undefined ? process.stdout : createWriteStream(parsed.output);
  const writer = new LineWriter(out);
  const progress = parsed.output !== undefined && process.stderr.isTTY ? new Progress(process.stderr) : undefined;
  const line = parsed.format === "jsonl" ? jsonLine : tableLine;
  let code = 0;
  let lastSeq = 0;
  let endSeq = Number.POSITIVE_INFINITY;
  try {
    if (parsed.format === "table") await writer.write(TABLE_HEADER);
    const records = replayEvents(log, {
      filter: parsed.filter,
      follow: parsed.follow,
      signal: controller.signal,
      ...(progress === undefined
        ? {}
        : {
            onProgress: (seq: number, end: number) => {
              lastSeq = seq;
              endSeq = end;
              progress.update(seq, end);
            },
          }),
    });
    for await (const record of records) {
      await writer.write(line(record));
      progress?.event();
      if (writer.failed !== undefined) break;
    }
    await writer.end();
    if (!interrupted && Number.isFinite(endSeq)) lastSeq = endSeq;
    if (writer.failed !== undefined) {
      // A closed pipe (`| head`) is the reader saying it has seen enough.
      const epipe = (writer.failed as NodeJS.ErrnoException).code === "EPIPE";
      if (!epipe) process.stderr.write(`cannot write the output: ${writer.failed.message}\n`);
      code = epipe ? 0 : 1;
    } else if (interrupted) {
      code = parsed.follow ? 0 : 130;
    }
  } catch (error) {
    await writer.end().catch(() => undefined);
    process.stderr.write(`${progress === undefined ? "" : "\n"}replay failed: ${error instanceof Error ? error.message : String(error)}\n`);
    code = 1;
  } finally {
    if (progress !== undefined) {
      progress.update(lastSeq, endSeq, true);
      progress.done();
    }
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
    await log.close().catch(() => undefined);
  }
  return code;
}
