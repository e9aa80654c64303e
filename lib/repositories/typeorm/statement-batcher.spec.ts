import { describe, expect, it } from 'vitest';
import { type BatchOutcome, StatementBatcher } from './statement-batcher';

/** A batch executor whose batches end when the test says so. */
function controlledExecutor() {
  const batches: { inputs: number[]; finish: (outcomes?: BatchOutcome<string>[]) => void }[] = [];
  const execute = (inputs: readonly number[]) =>
    new Promise<BatchOutcome<string>[]>((resolve) => {
      batches.push({
        inputs: [...inputs],
        finish: (outcomes) =>
          resolve(outcomes ?? inputs.map((input) => ({ ok: true, value: `v${input}` }))),
      });
    });
  return { batches, execute };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StatementBatcher', () => {
  it('runs a call alone and at once while fewer than maxConcurrent batches run', async () => {
    const { batches, execute } = controlledExecutor();
    const batcher = new StatementBatcher(execute, { maxConcurrent: 2, maxSize: 10 });
    const first = batcher.run(1);
    const second = batcher.run(2);
    expect(batches.map((batch) => batch.inputs)).toEqual([[1], [2]]);
    batches[0]?.finish();
    batches[1]?.finish();
    await expect(first).resolves.toBe('v1');
    await expect(second).resolves.toBe('v2');
  });

  it('groups the calls that waited into the next batch, in order, when a batch ends', async () => {
    const { batches, execute } = controlledExecutor();
    const batcher = new StatementBatcher(execute, { maxConcurrent: 1, maxSize: 10 });
    const results = [1, 2, 3, 4].map((input) => batcher.run(input));
    expect(batches.map((batch) => batch.inputs)).toEqual([[1]]);
    expect(batcher.pending).toBe(3);
    batches[0]?.finish();
    await tick();
    expect(batches.map((batch) => batch.inputs)).toEqual([[1], [2, 3, 4]]);
    batches[1]?.finish();
    await expect(Promise.all(results)).resolves.toEqual(['v1', 'v2', 'v3', 'v4']);
    expect(batcher.pending).toBe(0);
  });

  it('never puts more than maxSize calls in a batch', async () => {
    const { batches, execute } = controlledExecutor();
    const batcher = new StatementBatcher(execute, { maxConcurrent: 1, maxSize: 2 });
    const results = [1, 2, 3, 4, 5].map((input) => batcher.run(input));
    for (let i = 0; i < 3; i++) {
      batches[i]?.finish();
      await tick();
    }
    expect(batches.map((batch) => batch.inputs)).toEqual([[1], [2, 3], [4, 5]]);
    await expect(Promise.all(results)).resolves.toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
  });

  it("gives each call its own outcome: one call's error fails that call only", async () => {
    const { batches, execute } = controlledExecutor();
    const batcher = new StatementBatcher(execute, { maxConcurrent: 1, maxSize: 10 });
    const first = batcher.run(1);
    const [second, third] = [batcher.run(2), batcher.run(3)];
    batches[0]?.finish();
    await tick();
    const refused = new Error('refused');
    batches[1]?.finish([
      { ok: false, error: refused },
      { ok: true, value: 'three' },
    ]);
    await expect(first).resolves.toBe('v1');
    await expect(second).rejects.toBe(refused);
    await expect(third).resolves.toBe('three');
  });

  it('fails every call of a batch whose executor rejects, and goes on with the next batch', async () => {
    let calls = 0;
    const down = new Error('database down');
    const batcher = new StatementBatcher<number, number>(
      (inputs) =>
        ++calls === 1
          ? Promise.reject(down)
          : Promise.resolve(inputs.map((value) => ({ ok: true as const, value }))),
      { maxConcurrent: 1, maxSize: 10 },
    );
    const failed = [batcher.run(1), batcher.run(2)];
    await expect(failed[0]).rejects.toBe(down);
    await expect(failed[1]).resolves.toBe(2); // a batch of its own, after the failed one
    await expect(batcher.run(3)).resolves.toBe(3);
  });

  it('rejects the calls a batch answered no outcome for', async () => {
    const batcher = new StatementBatcher<number, number>(() => Promise.resolve([]), {
      maxConcurrent: 1,
      maxSize: 10,
    });
    await expect(batcher.run(1)).rejects.toThrow(/fewer outcomes than calls/);
  });
});
