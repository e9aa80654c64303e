import { describeValue, Problems, suggestKey } from './option-checks';
import { ASYMMETRIC_ALGORITHMS, SYMMETRIC_ALGORITHMS } from '../tokens/signing-algorithms';

/** JWS algorithms a registration may list: the asymmetric ones, then HMAC. `none` is never among them. */
const ALLOWED_ALGORITHMS: readonly string[] = [...ASYMMETRIC_ALGORITHMS, ...SYMMETRIC_ALGORITHMS];

/** A registration's `algorithms`: a non-empty list of allowed JWS algorithms, each once. @internal */
export function validateAlgorithms(
  problems: Problems,
  path: string,
  value: unknown,
  hasSecret: boolean,
): readonly string[] | undefined {
  if (value === undefined) {
    return undefined;
  }
  const allowed = ALLOWED_ALGORITHMS.join(', ');
  if (!Array.isArray(value)) {
    problems.add(
      path,
      'must be an array of JWS algorithm names',
      describeValue(value),
      `use e.g. ['RS256'], or omit it to use the OP's advertised algorithms (else RS256)`,
    );
    return undefined;
  }
  if (value.length === 0) {
    problems.add(
      path,
      'must not be empty (no token could ever be verified)',
      '[]',
      `list at least one of ${allowed}, or omit it to use the OP's advertised algorithms`,
    );
    return undefined;
  }
  const seen = new Map<string, number>();
  const list: string[] = [];
  value.forEach((alg: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    const found = algorithmProblem(alg, hasSecret);
    if (found) {
      problems.add(itemPath, found.problem, describeValue(alg), found.fix);
      return;
    }
    const name = alg as string;
    const first = seen.get(name);
    if (first !== undefined) {
      problems.add(
        itemPath,
        `repeats ${path}[${first}]`,
        describeValue(alg),
        'remove the duplicate',
      );
      return;
    }
    seen.set(name, index);
    list.push(name);
  });
  return Object.freeze(list);
}

/** Why one listed algorithm is refused, with its fix; `undefined` when it is allowed. */
function algorithmProblem(
  alg: unknown,
  hasSecret: boolean,
): { problem: string; fix: string } | undefined {
  const allowed = ALLOWED_ALGORITHMS.join(', ');
  if (typeof alg !== 'string') {
    return { problem: 'must be a string', fix: `use one of ${allowed}` };
  }
  if (alg.toLowerCase() === 'none') {
    return {
      problem: '"none" (unsigned tokens) is never accepted: anyone could forge a logout token',
      fix: 'remove it and list the algorithm your OP signs with, e.g. RS256',
    };
  }
  if (!ALLOWED_ALGORITHMS.includes(alg)) {
    const suggestion = suggestKey(alg, ALLOWED_ALGORITHMS);
    return {
      problem: suggestion
        ? `is not a supported JWS algorithm (did you mean "${suggestion}"?)`
        : 'is not a supported JWS algorithm',
      fix: `use one of ${allowed}`,
    };
  }
  if (SYMMETRIC_ALGORITHMS.has(alg) && !hasSecret) {
    return {
      problem: `${alg} tokens are keyed with the client secret, but clientSecret is not set`,
      fix: `set clientSecret on this registration, or remove ${alg}`,
    };
  }
  return undefined;
}
