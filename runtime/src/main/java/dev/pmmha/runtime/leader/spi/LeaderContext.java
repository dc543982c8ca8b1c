package dev.pmmha.runtime.leader.spi;

import java.util.function.BooleanSupplier;

/**
 * What a leader service knows of the leadership it runs under.
 *
 * @param nodeId this node
 * @param epoch the leader epoch (fence epoch) the service was started for
 * @param mayAct true while this node still holds the fence for {@code epoch} with time in hand: check it before
 *     each side effect that must not happen twice
 * @param failureReporter tells the runner that the service failed after it started, so it is restarted
 */
public record LeaderContext(String nodeId, long epoch, BooleanSupplier mayAct, java.util.function.Consumer<Throwable> failureReporter) {

  public boolean mayActNow() {
    return mayAct.getAsBoolean();
  }

  public void reportFailure(Throwable failure) {
    failureReporter.accept(failure);
  }
}
