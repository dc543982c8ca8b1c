package dev.pmmha.persistence.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class BatcherTest {

  @Test
  void requestsThatArriveWhileABatchIsWrittenGoTogetherIntoTheNextAndEachGetsItsAnswer() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      CountDownLatch firstBatchRunning = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      List<Integer> sizes = new CopyOnWriteArrayList<>();
      Batcher<Integer, String> b = new Batcher<>(batch -> {
        sizes.add(batch.size());
        firstBatchRunning.countDown();
        release.await();
        return batch.stream().map(i -> "answer-" + i).toList();
      }, pool, 100);
      List<CompletableFuture<String>> answers = new ArrayList<>();
      answers.add(b.submit(0)); // alone: written at once
      assertTrue(firstBatchRunning.await(10, TimeUnit.SECONDS));
      for (int i = 1; i <= 250; i++) {
        answers.add(b.submit(i)); // queued behind the first batch
      }
      release.countDown();
      for (int i = 0; i <= 250; i++) {
        assertEquals("answer-" + i, answers.get(i).get(10, TimeUnit.SECONDS));
      }
      assertEquals(List.of(1, 100, 100, 50), sizes, "one batch in flight, at most 100 requests each");
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aFailedBatchFailsItsOwnRequestsOnly() throws Exception {
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Batcher<Integer, Integer> b = new Batcher<>(batch -> {
        if (batch.contains(13)) {
          throw new java.sql.SQLException("store down");
        }
        return batch;
      }, pool, 10);
      ExecutionException e = assertThrows(ExecutionException.class, () -> b.submit(13).get(10, TimeUnit.SECONDS));
      assertEquals("store down", e.getCause().getMessage());
      assertEquals(14, b.submit(14).get(10, TimeUnit.SECONDS), "the next batch is written");
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aStoreThatIsClosedFailsNewRequestsAtOnce() {
    ExecutorService pool = Executors.newSingleThreadExecutor();
    pool.shutdown();
    Batcher<Integer, Integer> b = new Batcher<>(batch -> batch, pool, 10);
    ExecutionException e = assertThrows(ExecutionException.class, () -> b.submit(1).get(10, TimeUnit.SECONDS));
    assertTrue(e.getCause() instanceof java.util.concurrent.RejectedExecutionException, e.getCause().toString());
  }
}
