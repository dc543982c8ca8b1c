package dev.pmmha.http.api;

import java.util.concurrent.CompletionStage;

/** Operations on this node that change the cluster. */
public interface NodeControl {

  /**
   * Leaves the cluster gracefully and stops the process (as SIGTERM does). On the leader this is the way to move
   * leadership: it hands over to the next node, and its supervisor restarts it as a follower.
   */
  CompletionStage<Void> leave();

  NodeControl NONE = () -> java.util.concurrent.CompletableFuture.failedFuture(new UnsupportedOperationException("leave"));
}
