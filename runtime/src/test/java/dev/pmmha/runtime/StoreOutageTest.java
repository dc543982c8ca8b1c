package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.testkit.PostgresServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** PostgreSQL stopped under a running cluster, then started again (its own server: the test stops it). */
class StoreOutageTest {

  @Test
  void noLeaderWhileTheStoreIsDownPastTheLeaseAndALeaderIsBackSoonAfterItReturns() throws Exception {
    try (PostgresServer pg = PostgresServer.start();
        LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      long before = c.json(leader, "/v1/ha/leader").get("epoch").asLong();

      pg.stopServer();
      long stopped = System.nanoTime();
      // the lease is 3 s: within it the leader may still answer; past it, nobody may
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
}
