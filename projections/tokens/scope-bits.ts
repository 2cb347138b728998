/**
 * Token scopes stored as a bitmask over their grant's scope vocabulary (issue 8's storage bar: the
 * text of five scopes was ~55 of a token row's ~170 bytes; the mask is one byte).
 *
 * The vocabulary (`grants.scope_names`) is every scope the grant has held, in order of first
 * appearance: set by the grant's creation, extended (never reordered or shrunk) by its scope
 * updates, so bit i means the same scope for the grant's whole life. It follows from the grant's
 * events alone, so copies of the read model agree whatever tokens they dropped or cleaned up.
 * A token holds at most its grant's scopes at issuance (the decider checks it); a token whose
 * scopes a mask cannot give back exactly ({@link scopeMask}) keeps them as text: the read side
 * decodes both.
 */

/** Bits of a JavaScript number that stay exact (2^53), so the mask round-trips through SQLite. */
const MAX_BITS = 53;

/** The vocabulary after the grant held `scopes` too: new names appended, none moved. */
export function extendVocabulary(vocabulary: readonly string[], scopes: readonly string[]): string[] {
  const extended = [...vocabulary];
  const known = new Set(vocabulary);
  for (const scope of scopes) {
    if (known.has(scope)) continue;
    known.add(scope);
    extended.push(scope);
  }
  return extended;
}

/**
 * The mask of `scopes` over `vocabulary`, or undefined when it would not decode to exactly
 * `scopes`: a scope not in the vocabulary or past {@link MAX_BITS}, a repeat, or an order other
 * than the vocabulary's (stored scopes are sorted, and so is a vocabulary until an update widens it).
 */
export function scopeMask(scopes: readonly string[], vocabulary: readonly string[]): number | undefined {
  let mask = 0;
  let previous = -1;
  for (const scope of scopes) {
    const bit = vocabulary.indexOf(scope);
    if (bit <= previous || bit >= MAX_BITS) return undefined;
    mask += 2 ** bit;
    previous = bit;
  }
  return mask;
}

/** The scopes of `mask` over `vocabulary`, in vocabulary order: the inverse of {@link scopeMask}. */
export function scopesOfMask(mask: number, vocabulary: readonly string[]): string[] {
  const scopes: string[] = [];
  let rest = mask;
  for (let bit = 0; rest > 0; bit++, rest = Math.floor(rest / 2)) {
    if (rest % 2 === 1) {
      const scope = vocabulary[bit];
      // A bit past the vocabulary cannot be written (scopeMask); read as no scope, never a wrong one.
      if (scope !== undefined) scopes.push(scope);
    }
  }
  return scopes;
}
