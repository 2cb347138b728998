import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { seedLedger, startLedgerUnderTest } from "../lib/ledger.js";
import { spread } from "../lib/stats.js";
import { atMost, type Benchmark, type BenchOptions, type BenchResult } from "../lib/types.js";

/**
 * Bytes per event in the log (stream bytes ÷ messages, JetStream's own accounting: subject, headers,
 * body and per-message overhead) and per live token in the SQLite read model (file size after
 * VACUUM ÷ token rows; per table and index from dbstat), for a history written through the API.
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
      const after = (await jsm.streams.info("LEDGER")).state;
      const perMessage = after.bytes / after.messages;
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
          "token.issued messages": tokenMessages,
          "live tokens": tokens,
          grants,
          "SQLite page size": pageSize,
          "last sequence": seeded.lastSequence,
        },
        sides: [
          {
            label: "log (JetStream stream LEDGER)",
            metrics: { "bytes": one(after.bytes), "bytes/message": one(perMessage) },
          },
          {
            label: "read model (SQLite after VACUUM)",
            metrics: { "bytes": one(fileBytes), "bytes/live token": one(perToken), "tokens table + indexes, bytes/token": one(tokens === 0 ? 0 : tokenTables / tokens) },
          },
        ],
        ratios: [atMost("log bytes per event (message)", perMessage, 400), atMost("SQLite bytes per live token", perToken, 200)],
        notes: [
          "One IssueTokens call appends one token.issued message holding an access and a refresh token; a live token here is one row of `tokens` (so a pair is two).",
          `Per table/index (dbstat, bytes): ${Object.entries(perTable)
            .map(([name, bytes]) => `${name} ${bytes}`)
            .join(", ")}`,
          ...(otherFiles.length > 0 ? [`Other read models in the same data dir (not counted above, before VACUUM): ${otherFiles.join(", ")}.`] : []),
        ],
        raw: { stream: after, perTable, fileBytes, tokens },
      };
    } finally {
      await nc.close();
      await target.stop();
    }
  },
};
