package dev.pmmha.runtime.leader.spi;

import java.util.function.Consumer;

/**
 * What a leader service knows of the leadership it runs under.
 *
 * @param nodeId this node
 * @param epoch the leader epoch (fence epoch) the service was started for
 * @param right the fence's grant: check {@link #mayActNow()} before each side effect that must not happen twice
 * @param failureReporter tells the runner that the service failed after it started, so it is restarted
 */
public record LeaderContext(String nodeId, long epoch, ActingRight right, Consumer<Throwable> failureReporter) {

  /** True while this node still holds the fence for {@link #epoch} with time in hand. */
  public boolean mayActNow() {
    return right.mayAct().getAsBoolean();
  }

  /**
   * The {@link System#nanoTime()} instant until which {@link #mayActNow()} holds unless the lease is renewed; the
   * fence in the store outlives it by {@code PMM_HA_LEASE_SAFETY_MARGIN}. Read it before checking
   * {@link #mayActNow()}: a value read first is never later than the one the check saw.
   */
  public long actUntilNanos() {
    return right.actUntilNanos().getAsLong();
  }

  public void reportFailure(Throwable failure) {
    failureReporter.accept(failure);
  }
}
