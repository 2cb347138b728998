import { describe, expect, it } from "vitest";
import { createMemoryEventLog } from "../../../services/eventlog/memory.js";
import { DomainError } from "../../../services/domain/shared/errors.js";
import { appendRequest, eventLogContract, subjectRef } from "../../int/eventlog/contract.js";

eventLogContract("memory", async () => {
  const log = createMemoryEventLog();
  return { log, close: () => log.close() };
});

describe("memory event log", () => {
  it("forgets a msgId after the duplicate window", async () => {
    let now = 0;
    const log = createMemoryEventLog({ duplicateWindowMs: 1_000, now: () => now });
    const request = appendRequest(subjectRef("u1"));
    await log.append(request);
    now = 2_000;
    await expect(log.append(request)).rejects.toMatchObject({ kind: "conflict" });
    expect(await log.append({ ...request, expectedVersion: 1 })).toMatchObject({ seq: 2, duplicate: false });
  });

  it("throws unavailable once closed, also to a running follow", async () => {
    const log = createMemoryEventLog();
    const reading = (async () => {
      for await (const _ of log.follow(1, new AbortController().signal)) void _;
    })();
    log.close();
    await expect(reading).rejects.toBeInstanceOf(DomainError);
    await expect(log.append(appendRequest(subjectRef("u1")))).rejects.toMatchObject({ kind: "unavailable" });
  });
});
