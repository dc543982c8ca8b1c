package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.pmmha.http.api.ClusterView.NodeStatus;
import dev.pmmha.http.api.LeaderView.LeaderInfo;
import dev.pmmha.runtime.jobs.Jobs;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import dev.pmmha.runtime.settings.ClusterSettings;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class NodeStateTest {

  private static List<String> roles(NodeState s) {
    return s.nodes().stream().map(n -> n.nodeName() + "=" + n.role()).toList();
  }

  private static NodeState.Members members(String... statuses) {
    List<NodeStatus> nodes = new java.util.ArrayList<>();
    for (int i = 0; i < statuses.length; i++) {
      nodes.add(new NodeStatus("node-" + (i + 1), "NODE_ROLE_FOLLOWER", statuses[i], "pekko://pmm-ha@10.0.0." + (i + 1) + ":25520", false));
    }
    return new NodeState.Members(nodes, true, false, "Up", 3);
  }

  /** The race CI hit: the membership settles first, the leader becomes known afterwards. */
  @Test
  void theNodeTableFollowsALeaderLearnedAfterTheLastMembershipChange() {
    NodeState own = new NodeState(true, 3, "node-1");
    own.membersChanged(members("alive", "alive", "alive"));
    assertEquals(List.of("node-1=NODE_ROLE_FOLLOWER", "node-2=NODE_ROLE_FOLLOWER", "node-3=NODE_ROLE_FOLLOWER"), roles(own));
    own.leadershipGained(1, Instant.now(), System.nanoTime() + 5_000_000_000L);
    assertEquals(List.of("node-1=NODE_ROLE_LEADER", "node-2=NODE_ROLE_FOLLOWER", "node-3=NODE_ROLE_FOLLOWER"), roles(own));

    NodeState other = new NodeState(true, 3, "node-2");
    other.membersChanged(members("alive", "alive", "alive"));
    other.leaderAnnounced(new LeaderInfo("node-1", 1, Instant.now()));
    assertEquals(List.of("node-1=NODE_ROLE_LEADER", "node-2=NODE_ROLE_FOLLOWER", "node-3=NODE_ROLE_FOLLOWER"), roles(other));
    other.leaderAnnounced(new LeaderInfo("node-3", 2, Instant.now()));
    assertEquals(List.of("node-1=NODE_ROLE_FOLLOWER", "node-2=NODE_ROLE_FOLLOWER", "node-3=NODE_ROLE_LEADER"), roles(other));
  }

  /**
   * CI's ComposeIT: two members left (one stopped), the other marked unreachable for a moment, and the leader answered
   * 503 although nobody else could take its fence. It answers 200 while its lease lets it act and it is not down.
   */
  @Test
  void aLeaderKeepsAnsweringWhileItsLeaseLastsWhateverItCanReach() throws Exception {
    NodeState s = new NodeState(true, 3, "node-1");
    s.membersChanged(new NodeState.Members(members("alive", "suspect").nodes(), true, false, "Up", 1));
    s.leadershipGained(2, Instant.now(), System.nanoTime() + 150_000_000L);
    org.junit.jupiter.api.Assertions.assertTrue(s.isLeader(), "the peer unreachable, the lease held: still the leader");
    Thread.sleep(200);
    org.junit.jupiter.api.Assertions.assertFalse(s.isLeader(), "no longer once the lease no longer lets it act");

    NodeState downed = new NodeState(true, 3, "node-1");
    downed.membersChanged(members("alive", "suspect"));
    downed.leadershipGained(2, Instant.now(), System.nanoTime() + 5_000_000_000L);
    org.junit.jupiter.api.Assertions.assertTrue(downed.isLeader());
    downed.membersChanged(new NodeState.Members(List.of(), false, true, "Down", 0));
    org.junit.jupiter.api.Assertions.assertFalse(downed.isLeader(), "a downed node does not answer 200, lease or not");
  }

  @Test
  void aLeaderThatIsNotAliveIsNotShownAsLeader() {
    NodeState s = new NodeState(true, 3, "node-2");
    s.membersChanged(members("suspect", "alive", "alive"));
    s.leaderAnnounced(new LeaderInfo("node-1", 1, Instant.now()));
    assertEquals(List.of("node-1=NODE_ROLE_FOLLOWER", "node-2=NODE_ROLE_FOLLOWER", "node-3=NODE_ROLE_FOLLOWER"), roles(s));
  }

  /** A write reaching a node that has left the cluster fails at once instead of waiting out the write timeout. */
  @Test
  void aNodeThatLeftTheClusterRefusesWritesAtOnce() throws Exception {
    NodeState s = new NodeState(true, 3, "node-1");
    s.membersChanged(members("alive", "alive", "alive"));
    s.shuttingDown();
    org.junit.jupiter.api.Assertions.assertFalse(s.leftTheCluster(), "still a member while it hands over");
    s.membersChanged(new NodeState.Members(List.of(), false, true, "Removed", 0));
    org.junit.jupiter.api.Assertions.assertTrue(s.leftTheCluster());
    // no actor system and no leader: the write must not be asked at all
    ClusterSettings settings = new ClusterSettings(s, null, null, java.time.Duration.ofSeconds(30), new PmmHaMetrics(s));
    var failure = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
        () -> settings.put("k", com.fasterxml.jackson.databind.node.IntNode.valueOf(1)).toCompletableFuture().get(1, java.util.concurrent.TimeUnit.SECONDS));
    org.junit.jupiter.api.Assertions.assertInstanceOf(dev.pmmha.http.api.SettingsApi.NoLeaderException.class, failure.getCause());
    assertEquals(ClusterSettings.LEFT, failure.getCause().getMessage());
  }

  @Test
  void afterAHandOverThePortStaysOpenForTheDrainOnceItSettled() throws Exception {
    NodeState plain = new NodeState(true, 3, "node-2");
    org.junit.jupiter.api.Assertions.assertTrue(plain.portMayClose().toCompletableFuture().isDone(), "no hand-over: at once");

    NodeState s = new NodeState(true, 3, "node-1");
    s.handOverStarted(4, java.time.Duration.ZERO, java.time.Duration.ofSeconds(30));
    var mayClose = s.portMayClose().toCompletableFuture();
    Thread.sleep(200);
    org.junit.jupiter.api.Assertions.assertFalse(mayClose.isDone(), "not while the hand-over is unsettled");
    long settledAt = System.nanoTime();
    s.nextLeaderSeen(5);
    mayClose.get(5, java.util.concurrent.TimeUnit.SECONDS);
    long waited = System.nanoTime() - settledAt;
    org.junit.jupiter.api.Assertions.assertTrue(waited >= NodeState.PORT_DRAIN.toNanos(),
        "open for the drain after it settled: " + waited / 1_000_000 + " ms");
  }

  /** The race ProbesIT hit in CI: Pekko Management's /ready said 200, /v1/readyz (from the member list) 503. */
  @Test
  void readinessFollowsTheClustersOwnViewOfThisNodeNotTheMemberListsLaggingCopy() {
    NodeState s = new NodeState(true, 1, "node-1");
    s.storeChecked(null, System.nanoTime());
    s.membersChanged(new NodeState.Members(List.of(), false, false, "Joining", 0));
    assertEquals(false, s.readiness().ready(), "no live view yet: the member list decides");
    var live = new java.util.concurrent.atomic.AtomicReference<>(org.apache.pekko.cluster.MemberStatus.joining());
    s.selfStatusFrom(live::get);
    assertEquals("not Up in the cluster (status Joining)", s.readiness().reason());
    live.set(org.apache.pekko.cluster.MemberStatus.up()); // the member list still says Joining
    assertEquals(true, s.readiness().ready());
    live.set(org.apache.pekko.cluster.MemberStatus.leaving());
    assertEquals(true, s.readiness().ready(), "a leaving member serves until its hand-over");
    live.set(org.apache.pekko.cluster.MemberStatus.down());
    assertEquals(false, s.readiness().ready());
    s.shuttingDown();
    live.set(org.apache.pekko.cluster.MemberStatus.up());
    assertEquals("shutting down", s.readiness().reason());
  }

  /** A node that cannot join over TLS says why in its readiness; once Up, the old refusal is not shown. */
  @Test
  void aTlsRefusalIsTheReadinessReasonWhileNotUp() {
    NodeState s = new NodeState(true, 3, "node-3");
    s.storeChecked(null, System.nanoTime());
    var live = new java.util.concurrent.atomic.AtomicReference<>(org.apache.pekko.cluster.MemberStatus.joining());
    s.selfStatusFrom(live::get);
    s.transportProblem("TLS with peer 10.0.0.1 refused: its certificate is not signed by this cluster's CA");
    assertEquals("not Up in the cluster (status Joining): TLS with peer 10.0.0.1 refused: its certificate is not "
        + "signed by this cluster's CA", s.readiness().reason());
    live.set(org.apache.pekko.cluster.MemberStatus.up());
    assertEquals(true, s.readiness().ready());
    assertEquals("ready", s.readiness().reason());
  }

  /** Jobs own a dead node's ticks from the start of the unreachability that ended in its downing. */
  @Test
  void aNodeIsLostFromTheUnreachabilityThatEndedInItsDowning() {
    NodeState s = new NodeState(true, 3, "node-1");
    assertEquals(java.util.OptionalLong.empty(), s.lostAt("node-3"));

    s.memberUnreachable("node-3", 1_000); // a flaky link: reachable again, not downed
    s.memberReachable("node-3");
    s.memberUnreachable("node-3", 5_000); // the crash
    s.memberUnreachable("node-3", 5_500); // seen again (another observer): the first sight counts
    assertEquals(java.util.OptionalLong.empty(), s.lostAt("node-3")); // unreachable is not lost
    s.memberDowned("node-3", 7_000);
    s.memberDowned("node-3", 7_200); // removal after the downing keeps the earlier time
    assertEquals(java.util.OptionalLong.of(5_000), s.lostAt("node-3"));

    s.memberDowned("node-2", 9_000); // downed without being seen unreachable here (the other side's decision)
    assertEquals(java.util.OptionalLong.of(9_000), s.lostAt("node-2"));

    s.memberUp("node-3"); // restarted: a new life
    assertEquals(java.util.OptionalLong.empty(), s.lostAt("node-3"));
    s.memberDowned("node-3", 20_000);
    assertEquals(java.util.OptionalLong.of(20_000), s.lostAt("node-3"));
  }

  @Test
  void aWriteWaitsForItsVersionInThisNodesCopyWhichKeepsTheNewestSnapshotParsedOnce() throws Exception {
    NodeState s = new NodeState(true, 3, "node-1");
    java.time.Instant t = java.time.Instant.parse("2026-12-02T00:00:00Z");
    var v2 = new dev.pmmha.runtime.leader.Leader.SettingsSnapshot(2, java.util.Map.of(
        "a", new dev.pmmha.runtime.leader.LeaderState.Setting("{\"x\":1}", 2, t, "node-2")));
    var reached2 = s.settingsAt(2);
    var reached3 = s.settingsAt(3);
    org.junit.jupiter.api.Assertions.assertFalse(reached2.isDone(), "version 2 is not here yet");
    s.settingsUpdated(v2);
    org.junit.jupiter.api.Assertions.assertTrue(reached2.isDone(), "version 2 arrived");
    org.junit.jupiter.api.Assertions.assertFalse(reached3.isDone(), "version 3 has not");
    assertEquals(1, s.settings().settings().get("a").value().get("x").asInt());
    assertEquals("node-2", s.settings().settings().get("a").updatedBy());
    // an older snapshot (a late message) never replaces a newer one
    s.settingsUpdated(new dev.pmmha.runtime.leader.Leader.SettingsSnapshot(1, java.util.Map.of()));
    assertEquals(2, s.settings().version());
    org.junit.jupiter.api.Assertions.assertTrue(s.settingsAt(1).isDone(), "an older version is there at once");
    // a waiter that gives up is forgotten; the next snapshot completes the others
    reached3.complete(null);
    var reached4 = s.settingsAt(4);
    s.settingsUpdated(new dev.pmmha.runtime.leader.Leader.SettingsSnapshot(5, java.util.Map.of()));
    org.junit.jupiter.api.Assertions.assertTrue(reached4.isDone());
    assertEquals(0, s.settings().settings().size());
  }
}
