/** Reads a ledger replica's tokens read model from its data dir, as the checker needs it. */
import { existsSync } from "node:fs";
import { openProjectionDatabase, projectionDigest, readCheckpoint } from "../../../projections/runner/index.js";
import { TOKENS_PROJECTION } from "../../../projections/tokens/index.js";
import { readModelFile } from "../../support/fault-kit.js";
import type { ReplicaView } from "./checker.js";

/** The checkpoint of the replica's active tokens file (0 before it exists). */
export function replicaCheckpoint(dataDir: string): number {
  const file = readModelFile(dataDir);
  if (!existsSync(file)) return 0;
  const db = openProjectionDatabase(file, { readonly: true });
  try {
    return readCheckpoint(db, TOKENS_PROJECTION.name)?.seq ?? 0;
  } finally {
    db.close();
  }
}

export async function waitForReplica(dataDir: string, seq: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (replicaCheckpoint(dataDir) < seq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

export function readReplica(name: string, dataDir: string): ReplicaView {
  const db = openProjectionDatabase(readModelFile(dataDir), { readonly: true });
  try {
    const { digest, seq } = projectionDigest(db, TOKENS_PROJECTION.name);
    const tokenIds = new Set(db.prepare<[], { id: string }>("SELECT token_id AS id FROM tokens").all().map((r) => r.id));
    const revokedGrants = new Set(db.prepare<[], { id: string }>("SELECT grant_id AS id FROM grants WHERE revoked_seq IS NOT NULL").all().map((r) => r.id));
    return { name, checkpoint: seq, digest, tokenIds, revokedGrants };
  } finally {
    db.close();
  }
}
