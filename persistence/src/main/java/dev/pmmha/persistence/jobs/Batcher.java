package dev.pmmha.persistence.jobs;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Groups requests that arrive while a batch is being written into the next batch: one batch in flight at a time,
 * at most {@code maxBatch} requests each, no waiting when the store is idle (a lone request is a batch of one).
 * Thousands of job entities starting at once on a node (after a crash moved their shards) then cost a few
 * transactions instead of thousands of commits.
 *
 * @param <I> a request
 * @param <O> its answer
 */
final class Batcher<I, O> {

  /** Writes one batch; answers in the order of the requests. A failure fails every request of the batch. */
  @FunctionalInterface
  interface Work<I, O> {
    List<O> run(List<I> batch) throws Exception;
  }

  private record Pending<I, O>(I request, CompletableFuture<O> answer) {}

  private final Work<I, O> work;
  private final Executor executor;
  private final int maxBatch;
  private final ConcurrentLinkedQueue<Pending<I, O>> queue = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean draining = new AtomicBoolean();

  Batcher(Work<I, O> work, Executor executor, int maxBatch) {
    this.work = work;
    this.executor = executor;
    this.maxBatch = maxBatch;
  }

  CompletableFuture<O> submit(I request) {
    CompletableFuture<O> answer = new CompletableFuture<>();
    queue.add(new Pending<>(request, answer));
    if (draining.compareAndSet(false, true)) {
      try {
        executor.execute(this::drain);
      } catch (RuntimeException e) { // the executor is shut down: the store is closing
        draining.set(false);
        failAll(e);
      }
    }
    return answer;
  }

  private void drain() {
    while (true) {
      List<Pending<I, O>> batch = new ArrayList<>();
      for (Pending<I, O> p; batch.size() < maxBatch && (p = queue.poll()) != null; ) {
        batch.add(p);
      }
      if (batch.isEmpty()) {
        draining.set(false);
        // a request added after the poll above and before the flag was cleared would wait for the next one
        if (queue.isEmpty() || !draining.compareAndSet(false, true)) {
          return;
        }
        continue;
      }
      List<O> answers;
      try {
        answers = work.run(batch.stream().map(Pending::request).toList());
        if (answers.size() != batch.size()) {
          throw new IllegalStateException("a batch of " + batch.size() + " got " + answers.size() + " answers");
        }
      } catch (Throwable t) {
        batch.forEach(p -> p.answer().completeExceptionally(t));
        continue;
      }
      for (int i = 0; i < batch.size(); i++) {
        batch.get(i).answer().complete(answers.get(i));
      }
    }
  }

  private void failAll(Throwable t) {
    for (Pending<I, O> p; (p = queue.poll()) != null; ) {
      p.answer().completeExceptionally(t);
    }
  }
}
