package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.runtime.WithPostgres;
import dev.pmmha.runtime.leader.LeaderEvent.LeaderElected;
import dev.pmmha.runtime.leader.LeaderEvent.LeaderReleased;
import dev.pmmha.testkit.PostgresServer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Three in-JVM nodes on a real PostgreSQL: one leader, and where leadership goes when its node leaves. */
@Tag("integration")
class LeaderFailoverIT extends WithPostgres {


  static long epochOf(LocalCluster c, LocalCluster.Node n) {
    return c.json(n, "/v1/ha/leader").get("epoch").asLong();
  }

  static void assertExactlyOneLeaderFor(LocalCluster c, LocalCluster.Node leader, Duration d) throws Exception {
    long end = System.nanoTime() + d.toNanos();
    while (System.nanoTime() < end) {
      assertEquals(List.of(leader.id()), c.leaders().stream().map(LocalCluster.Node::id).toList());
      Thread.sleep(100);
    }
  }

  @Test
  void leaderMovesOnGracefulLeaveAndOnDownWithStrictlyIncreasingEpochsInTheJournal() throws Exception {
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase())) {
      LocalCluster.Node first = c.waitForLeader(Duration.ofSeconds(60));
      assertExactlyOneLeaderFor(c, first, Duration.ofSeconds(2));
      long epoch1 = epochOf(c, first);
      assertEquals(1, epoch1, "a fresh database starts at epoch 1");
      // every follower learns who leads, and says so in /v1/ha/nodes
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.eventually(Duration.ofSeconds(10),
            () -> c.json(n, "/v1/ha/leader").path("node_id").asText().equals(first.id()) ? true : null,
            n.id() + " to see " + first.id() + " as leader");
        var nodes = c.json(n, "/v1/ha/nodes");
        assertEquals(3, nodes.get("expected_nodes").asInt());
        long leadersListed = 0;
        for (var e : nodes.get("nodes")) {
          if (e.get("role").asText().equals("NODE_ROLE_LEADER")) {
            leadersListed++;
            assertEquals(first.id(), e.get("node_name").asText());
          }
        }
        assertEquals(1, leadersListed, nodes.toString());
      }

      // graceful leave of the leader: another node leads with a higher epoch
      c.leave(first);
      LocalCluster.Node second = c.waitForLeader(Duration.ofSeconds(30));
      assertNotEquals(first.id(), second.id());
      long epoch2 = epochOf(c, second);
      assertTrue(epoch2 > epoch1, epoch2 + " > " + epoch1);

      // the leader is downed by another member: it stops answering 200 and the last node leads
      LocalCluster.Node third = c.running().stream().filter(n -> n != second).findFirst().orElseThrow();
      c.down(second, third);
      assertFalse(second.node().state().isLeader(), "a downed node never claims leadership");
      assertEquals(third, c.waitForLeader(Duration.ofSeconds(30)));
      long epoch3 = epochOf(c, third);
      assertTrue(epoch3 > epoch2, epoch3 + " > " + epoch2);

      // a new leader answers 200 as soon as it holds the fence; its LeaderElected record follows (README, item 1)
      List<LeaderEvent> journal = LocalCluster.eventually(Duration.ofSeconds(10), () -> {
        List<LeaderEvent> j = c.journal();
        return j.stream().filter(e -> e instanceof LeaderElected le && le.epoch() == epoch3).count() > 0 ? j : null;
      }, "the journal to record epoch " + epoch3);
      List<LeaderElected> elected = journal.stream().filter(LeaderElected.class::isInstance).map(LeaderElected.class::cast).toList();
      assertEquals(List.of(epoch1, epoch2, epoch3), elected.stream().map(LeaderElected::epoch).toList(), journal.toString());
      assertEquals(List.of(first.id(), second.id(), third.id()), elected.stream().map(LeaderElected::nodeId).toList());
      assertTrue(journal.contains(journal.stream().filter(e -> e instanceof LeaderReleased r && r.epoch() == epoch1)
          .findFirst().orElseThrow(() -> new AssertionError("graceful leave journals LeaderReleased: " + journal))));
    }
  }

  @Test
  void epochsKeepIncreasingAcrossAFullClusterRestart() throws Exception {
    String db = pg.createDatabase();
    long before;
    try (LocalCluster c = LocalCluster.start(3, pg, db)) {
      before = epochOf(c, c.waitForLeader(Duration.ofSeconds(60)));
    }
    try (LocalCluster c = LocalCluster.start(3, pg, db)) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      long after = epochOf(c, leader);
      assertTrue(after > before, "epoch after restart " + after + " > " + before);
      List<Long> epochs = c.journal().stream().filter(LeaderElected.class::isInstance)
          .map(e -> ((LeaderElected) e).epoch()).toList();
      for (int i = 1; i < epochs.size(); i++) {
        assertTrue(epochs.get(i) > epochs.get(i - 1), "strictly increasing: " + epochs);
      }
    }
  }

  /** The in-JVM firewall: a leader cut off from both peers is replaced, and no moment has two leaders. */
  @Test
  void aLeaderCutOffFromItsPeersIsReplacedWithNeverTwoLeadersAtOnce() throws Exception {
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase())) {
      LocalCluster.Node first = c.waitForLeader(Duration.ofSeconds(60));
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.waitForUp(n, 3, Duration.ofSeconds(30));
      }
      long epoch1 = epochOf(c, first);
      List<LocalCluster.Node> others = c.running().stream().filter(n -> n != first).toList();
      c.partition(first);
      long deadline = System.nanoTime() + Duration.ofSeconds(45).toNanos();
      LocalCluster.Node next = null;
      while (next == null && System.nanoTime() < deadline) {
        List<LocalCluster.Node> now = c.leaders();
        assertTrue(now.size() <= 1, "two leaders in one round: " + now.stream().map(LocalCluster.Node::id).toList());
        if (now.size() == 1 && now.get(0) != first) {
          next = now.get(0);
        }
        Thread.sleep(50);
      }
      assertTrue(next != null, "a node of the majority leads within 45 s of the cut");
      assertTrue(others.contains(next));
      assertTrue(epochOf(c, next) > epoch1, "the new leader's epoch is above the cut-off one's");
      assertFalse(first.node().state().isLeader(), "the cut-off leader no longer answers 200");
      c.heal(first);
    }
  }
}
