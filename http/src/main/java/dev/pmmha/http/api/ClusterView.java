package dev.pmmha.http.api;

import java.util.List;

/** Membership and readiness as this node sees them, answered from memory. */
public interface ClusterView {

  boolean haEnabled();

  /** Every member this node knows, with PMM's role and status words. */
  List<NodeStatus> nodes();

  /** The number of nodes in PMM_HA_PEERS (1 with HA off). */
  int expectedNodes();

  /** The Kubernetes namespace of this node's pod, or empty when it does not run on Kubernetes. */
  String namespace();

  /** Whether this node can serve: Up in the cluster and its store answering. */
  Readiness readiness();

  /**
   * PMM's node entry: {@code role} is NODE_ROLE_LEADER or NODE_ROLE_FOLLOWER; {@code status} alive, suspect, dead or
   * left; {@code nofailover}: the node never leads ({@code PMM_HA_NOFAILOVER}, Patroni's tag).
   */
  record NodeStatus(String nodeName, String role, String status, String address, boolean nofailover) {}

  record Readiness(boolean ready, String reason) {
    public static Readiness ok() {
      return new Readiness(true, "ready");
    }

    public static Readiness notReady(String reason) {
      return new Readiness(false, reason);
    }
  }
}
