package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.testkit.PostgresServer;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** PostgreSQL stopped under a running cluster, then started again (its own server: the test stops it). */
@Tag("integration")
class StoreOutageIT {

  @Test
  void noLeaderWhileTheStoreIsDownPastTheLeaseAndALeaderIsBackSoonAfterItReturns() throws Exception {
    try (PostgresServer pg = PostgresServer.start();
        LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      long before = c.json(leader, "/v1/ha/leader").get("epoch").asLong();

      pg.stopServer();
      long stopped = System.nanoTime();
      // within the lease the leader may still answer; past it (3 s at most), nobody may
      long lastLeaderAnswer = stopped;
      while (System.nanoTime() - stopped < Duration.ofSeconds(8).toNanos()) {
        if (!c.leaders().isEmpty()) {
          lastLeaderAnswer = System.nanoTime();
        }
        Thread.sleep(50);
      }
      long servedFor = (lastLeaderAnswer - stopped) / 1_000_000;
      assertTrue(servedFor <= 3_000, "no node answers 200 once the lease ran out; the last 200 came "
          + servedFor + " ms after the store went down");
      assertTrue(c.leaders().isEmpty());

      pg.startServer();
      long started = System.nanoTime();
      LocalCluster.Node back = c.waitForLeader(Duration.ofSeconds(30));
      long after = c.json(back, "/v1/ha/leader").get("epoch").asLong();
      System.out.printf("store back: leader %s answers 200 again after %d ms%n", back.id(),
          (System.nanoTime() - started) / 1_000_000);
      assertTrue(after > before, "a new epoch after the outage: " + after + " > " + before);
      assertEquals(200, LocalCluster.put(back, "/v1/ha/settings/after-outage", "1").statusCode(),
          "the new leader writes");
    }
  }

  @Test
  void aLeaderWhoseWriteFailedDuringTheOutageLeadsAgainAfterTheStoreReturns() throws Exception {
    try (PostgresServer pg = PostgresServer.start();
        LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      long before = c.json(leader, "/v1/ha/leader").get("epoch").asLong();
      // Writes all through the outage's start: one of them reaches the leader while it may still write, and its
      // persist fails on the dead store, which restarts the leader actor.
      java.util.concurrent.atomic.AtomicBoolean writing = new java.util.concurrent.atomic.AtomicBoolean(true);
      Thread writer = new Thread(() -> {
        int i = 0;
        while (writing.get()) {
          try {
            LocalCluster.put(leader, "/v1/ha/settings/outage-" + (i++ % 5), "1");
          } catch (IllegalStateException e) {
            // no answer while the store is down: the next one
          }
        }
      });
      writer.start();
      Thread.sleep(300);
      pg.stopServer();
      Thread.sleep(5_000);
      writing.set(false);
      writer.join(10_000);

      pg.startServer();
      long started = System.nanoTime();
      LocalCluster.Node back = c.waitForLeader(Duration.ofSeconds(20));
      System.out.printf("store back after failed writes: leader %s answers 200 again after %d ms%n", back.id(),
          (System.nanoTime() - started) / 1_000_000);
      assertTrue(c.json(back, "/v1/ha/leader").get("epoch").asLong() > before, "a new epoch after the outage");
      assertEquals(200, LocalCluster.put(back, "/v1/ha/settings/after-outage", "2").statusCode(),
          "the new leader writes");
    }
  }
}
