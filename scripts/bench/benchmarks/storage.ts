import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { seedLedger, startLedgerUnderTest } from "../lib/ledger.js";
import { spread } from "../lib/stats.js";
import { atMost, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

/** The stream's files on the server's disk: everything, and the sealed (S2-compressed) blocks alone. */
interface StreamDisk {
  readonly bytes: number;
  readonly blocks: number;
  readonly sealedBytes: number;
  /** Messages in the sealed blocks: all but those of the block being written (plain, so its bytes ÷ bytes per message). */
  readonly sealedMessages: number;
}

function streamDisk(storeDir: string, stream: string, messages: number, bytesPerMessage: number): StreamDisk {
  const dir = join(storeDir, "jetstream", "$G", "streams", stream);
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  const bytes = files.reduce((sum, d) => sum + statSync(join(d.parentPath, d.name)).size, 0);
  const blocks = readdirSync(join(dir, "msgs"))
    .filter((f) => f.endsWith(".blk"))
    .map((f) => ({ n: Number.parseInt(f, 10), size: statSync(join(dir, "msgs", f)).size }))
    .sort((a, b) => a.n - b.n);
  const last = blocks.at(-1)?.size ?? 0;
  const sealedBytes = blocks.slice(0, -1).reduce((sum, b) => sum + b.size, 0);
  return { bytes, blocks: blocks.length, sealedBytes, sealedMessages: Math.max(0, messages - Math.round(last / bytesPerMessage)) };
}

/**
 * Bytes per event in the log (stream bytes ÷ messages, JetStream's own accounting: subject, headers,
 * body and per-message overhead; and the stream's files on disk, where nats-server S2-compresses
 * each full 8 MB block) and per live token in the SQLite read model (file size after VACUUM ÷ token
 * rows; per table and index from dbstat), for a history written through the API. The on-disk
 * figure of compressed blocks needs a history of several blocks (--size 40000: ~48 MB).
 */
export const storage: Benchmark = {
  name: "storage",
  title: "Bytes per event in the log, per live token in SQLite",
  async run(options: BenchOptions): Promise<BenchResult> {
    const pairs = options.size ?? (options.smoke ? 100 : 5_000);
    const grants = options.smoke ? 10 : 100;
    options.log(`storage: issuing ${pairs} access + refresh pairs over ${grants} grants through the API`);
    const target = await startLedgerUnderTest();
    const nc = await connect({ servers: target.nats.url, name: "bench-storage" });
    try {
      const jsm = await jetstreamManager(nc);
      const before = (await jsm.streams.info("LEDGER")).state;
      const seeded = await seedLedger(target.address, grants, pairs);
      const info = await jsm.streams.info("LEDGER");
      const after = info.state;
      const perMessage = after.bytes / after.messages;
      const disk = streamDisk(target.nats.storeDir, "LEDGER", after.messages, perMessage);
      const sealedPerMessage = disk.sealedMessages === 0 ? Number.NaN : disk.sealedBytes / disk.sealedMessages;
      // Stop the ledger (its projection commits what it has) and measure the read model at rest.
      await target.ledger.stop();
      const dir = join(target.dataDir, "projections");
      const files = readdirSync(dir).filter((f) => f.endsWith(".db"));
      const otherFiles = files.filter((f) => !f.startsWith("tokens.")).map((f) => `${f} ${statSync(join(dir, f)).size} B`);
      const file = files.find((f) => f.startsWith("tokens."));
      if (file === undefined) throw new Error(`no projection file in ${dir}`);
      const db = new BetterSqlite3(join(dir, file));
      db.pragma("wal_checkpoint(TRUNCATE)");
      const vacuumed = join(target.dataDir, "vacuumed.db");
      db.exec(`VACUUM INTO '${vacuumed}'`);
      db.close();
      const v = new BetterSqlite3(vacuumed, { readonly: true });
      const tokens = Number(v.prepare("SELECT count(*) FROM tokens").pluck().get());
      const pageSize = Number(v.pragma("page_size", { simple: true }));
      let perTable: Record<string, number> = {};
      try {
        const rows = v.prepare<[], { name: string; bytes: number }>("SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC").all();
        perTable = Object.fromEntries(rows.map((r) => [r.name, r.bytes]));
      } catch {
        // dbstat is not compiled in: the total is still reported
      }
      v.close();
      const fileBytes = statSync(vacuumed).size;
      const perToken = fileBytes / tokens;
      const tokenTables = Object.entries(perTable)
        .filter(([name]) => name === "tokens" || name.startsWith("tokens_"))
        .reduce((sum, [, bytes]) => sum + bytes, 0);
      const tokenMessages = after.messages - before.messages - grants - 1;
      const one = (x: number) => spread([x]);
      return {
        name: "storage",
        title: this.title,
        date: new Date().toISOString(),
        options: { runs: 1, durationS: 0, warmupS: 0, smoke: options.smoke },
        config: {
          "log messages": after.messages,
          "stream compression": info.config.compression ?? "none",
          "stream blocks (the last one is being written, never compressed)": disk.blocks,
          "token.issued messages": tokenMessages,
          "live tokens": tokens,
          grants,
          "SQLite page size": pageSize,
          "last sequence": seeded.lastSequence,
        },
        sides: [
          {
            label: "log (JetStream stream LEDGER)",
            metrics: {
              "bytes": one(after.bytes),
              "bytes/message": one(perMessage),
              "disk bytes/message (all files)": one(disk.bytes / after.messages),
              // Only once a block is sealed: a short history fits in the block being written.
              ...(Number.isNaN(sealedPerMessage) ? {} : { "disk bytes/message (sealed blocks)": one(sealedPerMessage) }),
            },
          },
          {
            label: "read model (SQLite after VACUUM)",
            metrics: { "bytes": one(fileBytes), "bytes/live token": one(perToken), "tokens table + indexes, bytes/token": one(tokens === 0 ? 0 : tokenTables / tokens) },
          },
        ],
        ratios: [
          atMost("log bytes per event (message)", perMessage, 400),
          ...(Number.isNaN(sealedPerMessage) ? [] : [atMost("log bytes per event on disk (sealed, compressed blocks)", sealedPerMessage, 400)]),
          atMost("SQLite bytes per live token", perToken, 200),
        ],
        notes: [
          "One IssueTokens call appends one token.issued message holding an access and a refresh token; a live token here is one row of `tokens` (so a pair is two).",
          "Log bytes/message is JetStream's accounting (what `stream info`, limits, replication and readers see: uncompressed). On disk nats-server S2-compresses each full 8 MB block (GL_STREAM_COMPRESSION=s2); the block being written stays plain, so the sealed blocks' figure is the steady state of a long log.",
          `Per table/index (dbstat, bytes): ${Object.entries(perTable)
            .map(([name, bytes]) => `${name} ${bytes}`)
            .join(", ")}`,
          ...(otherFiles.length > 0 ? [`Other read models in the same data dir (not counted above, before VACUUM): ${otherFiles.join(", ")}.`] : []),
        ],
        raw: { stream: after, disk, perTable, fileBytes, tokens },
      };
    } finally {
      await nc.close();
      await target.stop();
    }
  },
};
