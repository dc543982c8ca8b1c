package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.pmmha.http.ClusterView.NodeStatus;
import dev.pmmha.http.LeaderView.LeaderInfo;
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
      nodes.add(new NodeStatus("node-" + (i + 1), "NODE_ROLE_FOLLOWER", statuses[i], "pekko://pmm-ha@10.0.0." + (i + 1) + ":25520"));
    }
    return new NodeState.Members(nodes, true, false, true, "Up");
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

  @Test
  void aLeaderThatIsNotAliveIsNotShownAsLeader() {
    NodeState s = new NodeState(true, 3, "node-2");
    s.membersChanged(members("suspect", "alive", "alive"));
    s.leaderAnnounced(new LeaderInfo("node-1", 1, Instant.now()));
    assertEquals(List.of("node-1=NODE_ROLE_FOLLOWER", "node-2=NODE_ROLE_FOLLOWER", "node-3=NODE_ROLE_FOLLOWER"), roles(s));
  }
}
