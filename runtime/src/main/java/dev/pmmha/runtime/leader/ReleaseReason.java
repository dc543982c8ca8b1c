package dev.pmmha.runtime.leader;

import dev.pmmha.runtime.cluster.NodeState;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;

/** Why a leadership ends with a release, for the history (`LeaderReleased.reason`). */
final class ReleaseReason {

  private ReleaseReason() {}

  /** A switchover (and where it was asked for), or the reason of this node's stop. */
  static String of(NodeState node, ActorSystem<?> system) {
    String switchover = node.switchoverAsked(node.nodeId());
    if (switchover != null) {
      return switchover;
    }
    CoordinatedShutdown.Reason reason = CoordinatedShutdown.get(system).getShutdownReason().orElse(null);
    if (reason == CoordinatedShutdown.jvmExitReason()) {
      return "stop (SIGTERM)";
    }
    if (reason == CoordinatedShutdown.clusterLeavingReason()) {
      return "leave (POST /v1/ha/leave or the cluster's leave)";
    }
    return reason == null ? "hand-over" : "stop (" + reason + ")";
  }
}
