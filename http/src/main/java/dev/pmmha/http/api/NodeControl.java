package dev.pmmha.http.api;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** Operations on this node that change the cluster. */
public interface NodeControl {

  /**
   * Leaves the cluster gracefully and stops the process (as SIGTERM does). On the leader this is the way to move
   * leadership: it hands over to the next node, and its supervisor restarts it as a follower.
   */
  CompletionStage<Void> leave();

  /**
   * Moves leadership gracefully to {@code candidate}, or with none to the member that is next in line; completes
   * once the next leader holds its epoch. Fails with {@link SwitchoverRefused} when it cannot be done (nothing
   * changed then), with {@link SwitchoverUnfinished} when no next leader was seen in time.
   */
  default CompletionStage<Switched> switchover(Optional<String> candidate) {
    return CompletableFuture.failedFuture(new SwitchoverRefused("switchover is not available on this node"));
  }

  /** Where leadership went: from the leader of the request's time to {@code to}, with {@code to}'s epoch. */
  record Switched(String from, String to, long epoch) {}

  /** A switchover that cannot be done now, with the reason: nothing was changed. */
  final class SwitchoverRefused extends RuntimeException {
    public SwitchoverRefused(String message) {
      super(message);
    }
  }

  /** A switchover that started but whose next leader was not seen in time. */
  final class SwitchoverUnfinished extends RuntimeException {
    public SwitchoverUnfinished(String message) {
      super(message);
    }
  }

  NodeControl NONE = () -> CompletableFuture.failedFuture(new UnsupportedOperationException("leave"));
}
