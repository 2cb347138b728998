import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dataVersion, openProjectionDatabase } from "../../../projections/runner/index.js";

/** A reader process keeps its last checkpoint read until data_version says the projector committed. */
describe("dataVersion (reader-side change detection)", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("stays put while nobody commits and changes once another connection commits", async () => {
    dir = await mkdtemp(join(tmpdir(), "gl-data-version-"));
    const file = join(dir, "p.db");
    const writer = openProjectionDatabase(file);
    writer.exec("CREATE TABLE t (x INTEGER)");
    const reader = openProjectionDatabase(file, { readonly: true });
    try {
      const first = dataVersion(reader);
      expect(dataVersion(reader)).toBe(first);
      writer.prepare("INSERT INTO t VALUES (1)").run();
      const second = dataVersion(reader);
      expect(second).not.toBe(first);
      expect(dataVersion(reader)).toBe(second);
      // A rolled-back transaction commits nothing.
      writer.exec("BEGIN; INSERT INTO t VALUES (2); ROLLBACK");
      expect(dataVersion(reader)).toBe(second);
    } finally {
      reader.close();
      writer.close();
    }
  });
});
