// Reading and writing overlap: while the rows of one batch are turned into Mauth's rows and
// staged, the next batch is already being fetched from the source database.

/** Yields the batches of `source`, asking for the next one as soon as one is handed out. */
export async function* prefetch<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    for (;;) {
      const result = await next;
      if (result.done) return;
      next = iterator.next();
      // Awaited on the next turn; until then a failure must not count as unhandled.
      next.catch(() => undefined);
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}
