package dev.pmmha.runtime.cluster;

import dev.pmmha.http.api.ClusterView.NodeStatus;
import dev.pmmha.persistence.fence.Fence;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Tells a node that it is cut off: its cluster holds no more than half of the expected nodes while a node that
 * is not a member of it holds the fence and keeps renewing it. Pekko clusters never merge, so such a node (left
 * alone when the split brain resolver downed its peers one at a time, as in one-way ring drops, or a node that
 * formed a cluster of its own at a cold start) would stay apart forever, and could never lead. Restarting makes
 * it join the cluster of the others. A node alone because its peers are dead is not cut off: nobody renews the
 * fence then, and it may lead.
 */
public final class CutOffWatch {

  /** How long the condition must hold without a break before the node restarts. */
  public static final Duration PATIENCE = Duration.ofSeconds(10);

  private final Duration patience;
  private long sinceNanos;
  private boolean holding;

  public CutOffWatch(Duration patience) {
    this.patience = patience;
  }

  /**
   * One observation, at {@code nowNanos} ({@link System#nanoTime()}): {@code membersUp} members of this node's
   * cluster are up (alive or suspect, this node included), {@code expected} nodes make the whole cluster, and the
   * fence is held by a node that is {@code holderIsMember} or not, with a lease that is {@code leaseLive}.
   * True once the node has been cut off for the whole patience.
   */
  public boolean observe(long nowNanos, int membersUp, int expected, boolean holderIsMember, boolean leaseLive) {
    boolean cutOff = expected > 1 && membersUp * 2 <= expected && leaseLive && !holderIsMember;
    if (!cutOff) {
      holding = false;
      return false;
    }
    if (!holding) {
      holding = true;
      sinceNanos = nowNanos;
    }
    return nowNanos - sinceNanos >= patience.toNanos();
  }

  /**
   * One observation of {@code node}'s membership against the fence as {@code held}: the reason to restart, once
   * the node has been cut off for the whole patience.
   */
  public Optional<String> observe(NodeState node, Fence.State held, long nowNanos) {
    String holderNode = holderNode(held.holder());
    Predicate<NodeStatus> up = n -> n.status().equals("alive") || n.status().equals("suspect");
    var nodes = node.nodes();
    int membersUp = (int) nodes.stream().filter(up).count();
    boolean holderIsMember = nodes.stream().anyMatch(n -> up.test(n) && n.nodeName().equals(holderNode));
    if (!observe(nowNanos, membersUp, node.expectedNodes(), holderIsMember, !held.free())) {
      return Optional.empty();
    }
    return Optional.of(String.format("node %s is in a cluster of %d of the %d expected nodes while %s, not a member "
        + "of it, has held the fence (epoch %d) for %d s", node.nodeId(), membersUp, node.expectedNodes(), holderNode,
        held.epoch(), patience.toSeconds()));
  }

  /** Forgets the observations so far (this node took the fence). */
  public void reset() {
    holding = false;
  }

  /** The node id in a fence holder ({@code node-id/random}). */
  public static String holderNode(String holder) {
    int slash = holder.lastIndexOf('/');
    return slash < 0 ? holder : holder.substring(0, slash);
  }
}
