/**
 * "Did you mean X?" hints for misspelled option names.
 *
 * @internal
 */

/** Optimal-string-alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      const row = d[i];
      if (row) {
        row[j] = best;
      }
    }
  }
  return at(rows - 1, cols - 1);
}

/**
 * The known name closest to `input` (case-insensitively) within an edit distance of 2, for a
 * "did you mean X?" hint; failing that, the only known name that `input` is a prefix of (or that is a
 * prefix of `input`), at least 4 characters long (`clockTolerance` -> `clockToleranceSeconds`);
 * `undefined` when none is that close.
 */
export function suggestKey(input: string, known: readonly string[]): string | undefined {
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(needle, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined || needle.length < 4) {
    return best;
  }
  const related = known.filter((candidate) => {
    const lower = candidate.toLowerCase();
    return lower.length >= 4 && (lower.startsWith(needle) || needle.startsWith(lower));
  });
  return related.length === 1 ? related[0] : undefined;
}
