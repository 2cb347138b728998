import { z } from "zod";
import { SCOPE_PATTERN } from "../domain/shared/scopes.js";

/** Field rules shared by the request schemas. Limits keep a hostile caller from bloating the log. */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const noControl = (what: string) => (s: string) => !CONTROL.test(s) || `${what} must not contain control characters`;

export const text = (what: string, max: number) =>
  z
    .string()
    .max(max, `${what} is longer than ${max} characters`)
    .refine((s) => noControl(what)(s) === true, `${what} must not contain control characters`);

export const requiredText = (what: string, max: number) => text(what, max).pipe(z.string().min(1, `${what} is required`));

export const requestId = z
  .string()
  .min(1, "request_id is required (an idempotency key, e.g. a UUID)")
  .max(128, "request_id is longer than 128 characters")
  .regex(/^[\x21-\x7e]+$/, "request_id must be printable ASCII without spaces");

/** Ids the ledger minted (`cl_…`, `gr_…`): anything else cannot name one. */
export const ledgerId = (what: string) =>
  z
    .string()
    .min(1, `${what} is required`)
    .max(64, `${what} is longer than 64 characters`)
    .regex(/^[A-Za-z0-9_-]+$/, `${what} is not a valid id`);

const unique = (what: string) => (list: readonly string[]) => new Set(list).size === list.length || `${what} has duplicates`;

export const scopeList = (what: string, min: number, max = 64) =>
  z
    .array(z.string().regex(SCOPE_PATTERN, "is not a valid scope name"))
    .min(min, `${what} needs at least ${min} scope`)
    .max(max, `${what} has more than ${max} scopes`)
    .superRefine((list, ctx) => {
      const dup = unique(what)(list);
      if (dup !== true) ctx.addIssue({ code: "custom", message: dup });
    });

export const uniqueTexts = (what: string, item: z.ZodType<string>, max: number) =>
  z
    .array(item)
    .max(max, `${what} has more than ${max} items`)
    .superRefine((list, ctx) => {
      const dup = unique(what)(list);
      if (dup !== true) ctx.addIssue({ code: "custom", message: dup });
    });

/**
 * Redirect URIs per RFC 6749 §3.1.2 and RFC 8252: absolute, no fragment; https, http only on
 * loopback, or a private-use scheme (reverse domain, with a dot) for native apps.
 */
export const redirectUri = z
  .string()
  .max(2000, "redirect URI is longer than 2000 characters")
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "is not an absolute URI" });
      return;
    }
    if (url.hash !== "" || value.includes("#")) ctx.addIssue({ code: "custom", message: "must not contain a fragment" });
    const scheme = url.protocol.slice(0, -1);
    const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
    const ok = scheme === "https" || (scheme === "http" && loopback) || (scheme.includes(".") && scheme.length <= 100);
    if (!ok) ctx.addIssue({ code: "custom", message: "must use https (http only on loopback) or a private-use scheme like com.example.app" });
  });

export const minSequence = z.number().int().nonnegative().optional();

export const reason = text("reason", 500).default("");

/** A presented token, code or secret: bounded, format checked later (by checksum, without a lookup). */
export const opaque = (what: string, required = true) =>
  z
    .string()
    .min(required ? 1 : 0, `${what} is required`)
    .max(4096, `${what} is longer than 4096 characters`);

/** RFC 7636 §4.1: 43 to 128 unreserved characters; empty when none is sent. */
export const codeVerifier = z
  .string()
  .refine((v) => v === "" || /^[A-Za-z0-9._~-]{43,128}$/.test(v), "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]");
