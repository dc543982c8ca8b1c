package dev.pmmha.runtime;

import dev.pmmha.persistence.Fence;
import java.sql.SQLException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Runs the blocking {@link Fence} calls on a thread of their own, for the leader actor. */
final class FenceClient implements AutoCloseable {

  /** The outcome of an attempt to take the fence: a lease, or who holds it, or why the store did not answer. */
  record Acquired(Optional<Fence.Lease> lease, Fence.State heldBy, String error) {}

  private final Fence fence;
  private final ExecutorService executor = Executors.newSingleThreadExecutor(LeaderServices.daemon("pmm-ha-fence"));

  FenceClient(Fence fence) {
    this.fence = fence;
  }

  CompletionStage<Acquired> acquire(String holder, long atLeast) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        Optional<Fence.Lease> lease = fence.acquire(holder, atLeast);
        return new Acquired(lease, lease.isPresent() ? null : fence.current(), null);
      } catch (SQLException e) {
        return new Acquired(Optional.empty(), null, firstLine(e));
      }
    }, executor);
  }

  /** Empty optional: the lease is lost; a failed stage: the store did not answer. */
  CompletionStage<Optional<Fence.Lease>> renew(Fence.Lease lease) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return fence.renew(lease);
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
    }, executor);
  }

  CompletionStage<Fence.State> current() {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return fence.current();
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
    }, executor);
  }

  CompletionStage<Void> release(Fence.Lease lease) {
    return CompletableFuture.runAsync(() -> {
      try {
        fence.release(lease);
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
    }, executor);
  }

  static String firstLine(Throwable e) {
    return String.valueOf(e.getMessage()).lines().findFirst().orElse(e.getClass().getSimpleName());
  }

  @Override
  public void close() {
    executor.shutdownNow();
    fence.close();
  }
}
