/**
 * One side of the catch-up benchmark, in its own process (so its CPU and RSS are its own):
 *
 *   generate   <nats-url> <n>          appends the synthetic history (scripts/bench/lib/synthetic.ts) to LEDGER
 *   projection <nats-url> <n> <file>   the tokens projection (runner + handlers) from seq 1 to n into a new file
 *   raw-read   <nats-url> <n>          an ordered consumer over the same stream, bytes only
 *   raw-insert <source> <file>         the rows a projection run wrote to <source>, inserted into a new file
 *                                      with plain prepared statements: no log, no decode
 *
 * Prints `RESULT {"elapsedMs":..,"cpuMs":..,"count":..}` (the timed part only).
 */
import BetterSqlite3 from "better-sqlite3";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { connectEventLog, encodeEnvelope, subjectFor } from "../../../services/eventlog/index.js";
import { startProjection } from "../../../projections/runner/index.js";
import { openProjectionDatabase } from "../../../projections/runner/sqlite.js";
import { TOKENS_PROJECTION } from "../../../projections/tokens/index.js";
import { syntheticMessage } from "../lib/synthetic.js";

/** ~512 messages' worth of rows (a token.issued message writes 2 tokens + 1 family). */
const ROWS_PER_TXN = 1536;
/** Time spent inserting (raw-insert reads the source rows first; that is not timed). */
let insertMs = 0;
let insertCpuMs = 0;
let insertOnly = false;

const [mode, ...args] = process.argv.slice(2);

async function timed(run: () => Promise<number>): Promise<void> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const count = await run();
  const used = process.cpuUsage(cpu);
  const elapsedMs = insertOnly ? insertMs : performance.now() - started;
  const cpuMs = insertOnly ? insertCpuMs : (used.user + used.system) / 1000;
  process.stdout.write(`RESULT ${JSON.stringify({ elapsedMs, cpuMs, count })}\n`);
}

async function generate(natsUrl: string, n: number): Promise<number> {
  const nc = await connect({ servers: natsUrl, name: "bench-catchup-generate" });
  const js = jetstream(nc, { timeout: 60_000 });
  const window: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const m = syntheticMessage(i);
    const encoded = encodeEnvelope({
      aggregate: m.aggregate,
      expectedVersion: 0,
      msgId: `gen-${i}`,
      meta: { eventId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`, at: m.at, actor: "bench", requestId: `gen-${i}` },
      prev: null,
      events: m.events,
    });
    const h = natsHeaders();
    for (const [key, value] of Object.entries(encoded.headers)) h.set(key, value);
    window.push(js.publish(subjectFor(m.aggregate), encoded.body, { headers: h }));
    if (window.length >= 1000) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  await nc.close();
  return n;
}

async function projection(natsUrl: string, n: number, file: string): Promise<number> {
  const log = await connectEventLog({ servers: natsUrl, ensureStream: false, name: "bench-catchup-projection" });
  const stopping = new AbortController();
  let reached: () => void = () => undefined;
  const done = new Promise<void>((r) => (reached = r));
  const runner = startProjection({
    log,
    projection: TOKENS_PROJECTION,
    file,
    signal: stopping.signal,
    onApplied: (batch) => {
      if (batch.toSeq >= n) reached();
    },
    onError: (error) => {
      process.stderr.write(`projection failed: ${String(error)}\n`);
      process.exit(1);
    },
  });
  await done;
  const applied = runner.appliedSeq;
  await runner.stop();
  await log.close();
  return applied;
}

async function rawRead(natsUrl: string, n: number): Promise<number> {
  const nc = await connect({ servers: natsUrl, name: "bench-catchup-raw-read" });
  const js = jetstream(nc);
  // The same consumer the log's follow() uses: ordered, from sequence 1, 256 messages per pull.
  const consumer = await js.consumers.get("LEDGER", { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
  const messages = await consumer.consume({ max_messages: 256, expires: 10_000 });
  let count = 0;
  let bytes = 0;
  for await (const m of messages) {
    count++;
    bytes += m.data.length;
    if (m.seq >= n) break;
  }
  messages.stop();
  await nc.close();
  if (bytes === 0) throw new Error("read nothing");
  return count;
}

/**
 * Inserts exactly the rows a projection run left in `source` into a new `file` with the same schema
 * (copied from the source's sqlite_master, so this follows the projection's schema as it changes),
 * in the order the projection wrote them (by `seq`), ROWS_PER_TXN rows per transaction.
 */
async function rawInsert(source: string, file: string): Promise<number> {
  insertOnly = true;
  const db = openProjectionDatabase(file);
  // A second connection reads the source while this one writes (one connection cannot do both).
  const reader = new BetterSqlite3(source, { readonly: true });
  const schema = reader
    .prepare<[], { type: string; name: string; sql: string }>(
      "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC",
    )
    .all();
  for (const entry of schema) db.exec(entry.sql);
  let rows = 0;
  for (const table of schema.filter((e) => e.type === "table")) {
    const columns = reader.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table.name}')`).all().map((c) => c.name);
    const order = columns.includes("seq") ? " ORDER BY seq" : "";
    // Integers as BigInts, so they are written back as integers (a number binds as REAL, and an ANY
    // column such as tokens.scopes would then hold an 8-byte float, not the projection's row).
    const rowsOf = reader
      .prepare(`SELECT ${columns.join(", ")} FROM ${table.name}${order}`)
      .raw(true)
      .safeIntegers(true)
      .iterate() as IterableIterator<unknown[]>;
    const insert = db.prepare(`INSERT INTO ${table.name} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
    const batch = db.transaction((chunk: unknown[][]) => {
      for (const row of chunk) insert.run(...row);
    });
    for (;;) {
      const chunk: unknown[][] = [];
      for (let r = rowsOf.next(); !r.done; r = chunk.length < ROWS_PER_TXN ? rowsOf.next() : { done: true, value: undefined }) chunk.push(r.value);
      if (chunk.length === 0) break;
      // Only the inserts are timed: reading the source is not what this side measures.
      const cpu = process.cpuUsage();
      const t = performance.now();
      batch.immediate(chunk);
      insertMs += performance.now() - t;
      const used = process.cpuUsage(cpu);
      insertCpuMs += (used.user + used.system) / 1000;
      rows += chunk.length;
    }
  }
  reader.close();
  db.close();
  return rows;
}

const num = (s: string | undefined): number => Number(s);
const modes: Record<string, () => Promise<number>> = {
  generate: () => generate(args[0] as string, num(args[1])),
  projection: () => projection(args[0] as string, num(args[1]), args[2] as string),
  "raw-read": () => rawRead(args[0] as string, num(args[1])),
  "raw-insert": () => rawInsert(args[0] as string, args[1] as string),
};
const run = modes[mode ?? ""];
if (run === undefined) {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
timed(run).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
