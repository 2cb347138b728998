import { describe, expect, it } from "vitest";
import {
  formatCheckpointBody,
  generateSignerKey,
  NoteError,
  openCheckpoint,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from "../../../services/transparency/note.js";

// The known-answer vector of golang.org/x/mod/sumdb/note (its package documentation): a key pair
// and the note it signs. Ed25519 is deterministic, so signing must reproduce the note byte for byte.
const GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const reason = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    if (error instanceof NoteError) return error.reason;
    throw error;
  }
  return "accepted";
};

describe("signed notes (C2SP signed-note, Ed25519)", () => {
  it("reproduces the Go sumdb/note known-answer vector", () => {
    const signer = parseSignerKey(GO_SIGNER);
    expect(signer.verifierKey).toBe(GO_VERIFIER);
    expect(signNote(GO_TEXT, signer)).toBe(GO_NOTE);
    expect(openNote(GO_NOTE, [parseVerifierKey(GO_VERIFIER)]).text).toBe(GO_TEXT);
  });

  it("rejects an altered text, an altered signature, an unknown key and malformed notes", () => {
    const verifier = parseVerifierKey(GO_VERIFIER);
    expect(reason(() => openNote(GO_NOTE.replace("problem,", "problem;"), [verifier]))).toBe("bad-signature");
    expect(reason(() => openNote(GO_NOTE.replace("KE6Ryy", "KE6Ryz"), [verifier]))).toBe("bad-signature");
    const other = parseVerifierKey(parseSignerKey(generateSignerKey("PeterNeumann")).verifierKey);
    expect(reason(() => openNote(GO_NOTE, [other]))).toBe("unknown-key");
    expect(reason(() => openNote(GO_NOTE.replace("\u2014", "-"), [verifier]))).toBe("malformed");
    expect(reason(() => openNote(GO_TEXT, [verifier]))).toBe("malformed");
  });

  it("rejects verifier keys whose id does not match", () => {
    expect(reason(() => parseVerifierKey(GO_VERIFIER.replace("c74f20a3", "c74f20a4")))).toBe("malformed");
    expect(reason(() => parseVerifierKey("PeterNeumann+c74f20a3"))).toBe("malformed");
  });

  it("signs and opens a tlog checkpoint with a generated key", () => {
    const signer = parseSignerKey(generateSignerKey("grant-ledger/TEST"));
    const root = Buffer.alloc(32, 7);
    const note = signNote(formatCheckpointBody("grant-ledger/TEST", 42, root), signer);
    expect(note.split("\n").slice(0, 4)).toEqual(["grant-ledger/TEST", "42", root.toString("base64"), ""]);
    expect(note).toMatch(/\n\u2014 grant-ledger\/TEST [A-Za-z0-9+/]{91}=\n$/);
    const opened = openCheckpoint(note, [parseVerifierKey(signer.verifierKey)]);
    expect(opened.treeSize).toBe(42);
    expect(opened.rootHash.equals(root)).toBe(true);
  });
});
