import { isUtf8 } from "node:buffer";
import type { IncomingMessage } from "node:http";
import { invalidRequest, OAuthHttpError } from "./errors.js";

/** Limits of {@link readForm}. */
export interface FormLimits {
  /** Largest body accepted, bytes (larger: 413 before reading it, or as soon as it grows past). */
  readonly maxBytes: number;
  /** Most parameters accepted. */
  readonly maxParams: number;
}

export const DEFAULT_FORM_LIMITS: FormLimits = { maxBytes: 16 * 1024, maxParams: 32 };

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

const tooLarge = (limit: number): OAuthHttpError =>
  new OAuthHttpError(413, "invalid_request", `request body is larger than ${limit} bytes`, { connection: "close" });

/** The raw body, refused past `maxBytes` without buffering more than that. */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = request.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (error: OAuthHttpError): void => {
      if (done) return;
      done = true;
      // Stop reading: the rest of an oversized body is never buffered (the connection closes after the answer).
      request.pause();
      reject(error);
    };
    request.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) fail(tooLarge(maxBytes));
      else chunks.push(chunk);
    });
    request.on("end", () => {
      if (done) return;
      done = true;
      // A one-chunk body (the usual form) is not copied.
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    request.on("error", () => fail(invalidRequest("the request body could not be read")));
    request.on("aborted", () => fail(invalidRequest("the request body was cut short")));
  });
}

const decode = (part: string): string => decodeURIComponent(part.replace(/\+/g, " "));

/**
 * `application/x-www-form-urlencoded` parameters (RFC 6749 Appendix B), hostile-input safe: only
 * that content type (UTF-8), a bounded body and parameter count, every name and value valid UTF-8
 * percent-encoding, and a parameter sent twice is `invalid_request` (RFC 6749 §3.1, §3.2) rather than
 * first-wins or last-wins. A parameter without a value counts as omitted (§3.1). Parameters in the
 * query string are refused: credentials and tokens do not belong in URLs.
 */
export async function readForm(request: IncomingMessage, limits: FormLimits = DEFAULT_FORM_LIMITS): Promise<Map<string, string>> {
  if ((request.url ?? "").includes("?")) throw invalidRequest("parameters go in the request body, not the URL");
  const type = request.headers["content-type"];
  if (type === undefined || !FORM_TYPE.test(type)) {
    throw invalidRequest("content-type must be application/x-www-form-urlencoded (UTF-8)");
  }
  const body = await readBody(request, limits.maxBytes);
  if (!isUtf8(body)) throw invalidRequest("the request body is not valid UTF-8");
  const text = body.toString("utf8");
  const params = new Map<string, string>();
  if (text === "") return params;
  const pairs = text.split("&");
  if (pairs.length > limits.maxParams) throw invalidRequest(`more than ${limits.maxParams} parameters`);
  for (const pair of pairs) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    let name: string;
    let value: string;
    try {
      name = decode(eq === -1 ? pair : pair.slice(0, eq));
      value = eq === -1 ? "" : decode(pair.slice(eq + 1));
    } catch {
      throw invalidRequest("the request body has invalid percent-encoding");
    }
    if (name === "") throw invalidRequest("a parameter has no name");
    if (params.has(name)) throw invalidRequest(`parameter ${safeName(name)} is sent more than once`);
    // Sent without a value: treated as omitted, but still counts as sent for the duplicate check.
    params.set(name, value);
  }
  for (const [name, value] of params) if (value === "") params.delete(name);
  return params;
}

/** A parameter name fit for an error description (it is the client's input: bounded, printable). */
export const safeName = (name: string): string => (/^[a-z_]{1,40}$/.test(name) ? name : "(unprintable)");
