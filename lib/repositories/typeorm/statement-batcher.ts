/** The outcome of one call of a batch: its value, or the error of that call alone. */
export type BatchOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

/**
 * How far concurrent repository calls are batched (see
 * `TypeOrmOidcSessionRepositoryOptions.batching`).
 *
 * @publicApi
 */
export interface StatementBatchLimits {
  /** Batches running at once; a call arriving while this many run waits for the next batch. */
  maxConcurrent: number;
  /** Most calls in one batch. */
  maxSize: number;
}

interface WaitingCall<I, O> {
  input: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs calls of one kind in batches, without delaying any ("natural batching", as databases group
 * commits): a call starts a batch of its own at once while fewer than `maxConcurrent` batches are
 * running; otherwise it waits, and every call that waited goes in the next batch (up to `maxSize`)
 * the moment a running one ends. Under light load each call runs alone and at once; under load,
 * many calls share one statement, one round trip and one commit.
 *
 * `execute` gets the inputs of a batch and answers one outcome per input, in order; a rejection of
 * `execute` itself fails every call of the batch with that error.
 */
export class StatementBatcher<I, O> {
  private readonly waiting: WaitingCall<I, O>[] = [];
  private running = 0;

  constructor(
    private readonly execute: (inputs: readonly I[]) => Promise<BatchOutcome<O>[]>,
    private readonly limits: StatementBatchLimits,
  ) {}

  /** Runs `input` in the next batch that has room; resolves or rejects with its own outcome. */
  run(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.drain();
    });
  }

  /** Calls waiting for a batch (for tests and diagnostics). */
  get pending(): number {
    return this.waiting.length;
  }

  private drain(): void {
    while (this.running < this.limits.maxConcurrent && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.limits.maxSize);
      this.running++;
      void this.runBatch(batch).finally(() => {
        this.running--;
        this.drain();
      });
    }
  }

  private async runBatch(batch: WaitingCall<I, O>[]): Promise<void> {
    let outcomes: BatchOutcome<O>[];
    try {
      outcomes = await this.execute(batch.map((call) => call.input));
    } catch (error) {
      for (const call of batch) call.reject(error);
      return;
    }
    batch.forEach((call, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) {
        call.reject(new Error('StatementBatcher: the batch answered fewer outcomes than calls'));
      } else if (outcome.ok) {
        call.resolve(outcome.value);
      } else {
        call.reject(outcome.error);
      }
    });
  }
}

/**
 * How a batcher runs its calls: one call runs its single statement; several share the batch
 * statement, or, when that fails, run one by one (each call gets its own result or error).
 */
export async function settleBatch<I, O>(
  inputs: readonly I[],
  single: (input: I) => Promise<O>,
  many: (inputs: readonly I[]) => Promise<O[]>,
): Promise<BatchOutcome<O>[]> {
  if (inputs.length > 1) {
    try {
      const values = await many(inputs);
      return values.map((value) => ({ ok: true as const, value }));
    } catch {
      // One by one below: each call gets its own result or error.
    }
  }
  const settled = await Promise.allSettled(inputs.map((input) => single(input)));
  return settled.map((result) =>
    result.status === 'fulfilled'
      ? { ok: true as const, value: result.value }
      : { ok: false as const, error: result.reason as unknown },
  );
}
