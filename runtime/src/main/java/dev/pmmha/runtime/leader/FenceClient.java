package dev.pmmha.runtime.leader;

import dev.pmmha.persistence.fence.Fence;
import java.sql.SQLException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs the blocking {@link Fence} calls for the leader actor: acquires, renewals and reads on the fence's thread,
 * releases on a thread of their own (the fence's release lane), so that a hand-over's release never queues behind a
 * renewal under way (a SIGTERM's no-leader gap once waited 90 ms for one: bench/README.md, session 33).
 */
public final class FenceClient implements AutoCloseable {

  /** The outcome of an attempt to take the fence: a lease, or who holds it, or why the store did not answer. */
  record Acquired(Optional<Fence.Lease> lease, Fence.State heldBy, String error) {}

  private final Fence fence;
  private final ScheduledExecutorService executor =
      Executors.newSingleThreadScheduledExecutor(LeaderServices.daemon("pmm-ha-fence"));
  private final java.util.concurrent.ExecutorService releases =
      Executors.newSingleThreadExecutor(LeaderServices.daemon("pmm-ha-fence-release"));

  public FenceClient(Fence fence) {
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

  /** What a {@link Keeper} reports; called on the fence thread. */
  interface KeeperListener {
    /** The lease was renewed: {@code lease} is the new one. */
    void renewed(Fence.Lease lease);

    /** The lease is gone (expired and taken, or released): the keeper has stopped. */
    void lost(Fence.Lease last);

    /** The store did not answer; the keeper tries again at the next interval. */
    void failed(Fence.Lease last, String error);
  }

  /**
   * Renews a lease at a fixed rate on the fence's own thread, so that a busy actor dispatcher, a leader actor
   * that stashes its commands while it persists, or a slow mailbox never delays a renewal
   * (docs/decisions/failover-timing.md).
   */
  final class Keeper {
    private final AtomicReference<Fence.Lease> latest;
    private volatile boolean cancelled;
    private final ScheduledFuture<?> task;

    private Keeper(Fence.Lease lease, java.time.Duration interval, KeeperListener listener) {
      this.latest = new AtomicReference<>(lease);
      this.task = executor.scheduleAtFixedRate(() -> renewOnce(listener), firstRenewalDelay(lease, interval,
          System.nanoTime()), interval.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void renewOnce(KeeperListener listener) {
      if (cancelled) {
        return;
      }
      Fence.Lease last = latest.get();
      try {
        Optional<Fence.Lease> renewed = fence.renew(last);
        if (cancelled) {
          return;
        }
        if (renewed.isPresent()) {
          latest.set(renewed.get());
          listener.renewed(renewed.get());
        } else {
          cancel();
          listener.lost(last);
        }
      } catch (SQLException e) {
        if (!cancelled) {
          listener.failed(last, firstLine(e));
        }
      } catch (RuntimeException e) {
        if (!cancelled) {
          listener.failed(last, firstLine(e));
        }
      }
    }

    /** The newest lease this keeper holds. */
    Fence.Lease latest() {
      return latest.get();
    }

    /** Stops renewing; a renewal already under way finishes but reports nothing. */
    void cancel() {
      cancelled = true;
      task.cancel(false);
    }
  }

  /**
   * Nanoseconds to the first renewal: one interval after the lease was asked for, so at once for a lease taken a
   * while ago (the leader asks for the fence while it recovers its journal, and a slow recovery on a loaded machine
   * once let a new leader's lease run out 230 ms after its election, before the keeper's first renewal).
   */
  static long firstRenewalDelay(Fence.Lease lease, java.time.Duration interval, long nowNanos) {
    return Math.max(0, Math.min(interval.toNanos(), lease.sentNanos() + interval.toNanos() - nowNanos));
  }

  /**
   * Starts renewing {@code lease} every {@code interval}, the first time one interval after it was taken; and opens
   * the release lane's connection, so that the release at the end of this tenure need not.
   */
  Keeper keep(Fence.Lease lease, java.time.Duration interval, KeeperListener listener) {
    releases.execute(() -> {
      try {
        fence.openReleaseLane();
      } catch (SQLException e) {
        // the release opens it, or reports why it cannot
      }
    });
    return new Keeper(lease, interval, listener);
  }

  public CompletionStage<Fence.State> current() {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return fence.current();
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
    }, executor);
  }

  /**
   * How a release went: ns waiting for the release thread, then ns in the store (the statement's round trip); and
   * for a hand-over straight to the next holder, the fence as it was handed (null when it was a release, or when
   * nothing was left to hand over).
   */
  record Released(long waitedNanos, long storeNanos, Fence.Handed handed) {
    Released(long waitedNanos, long storeNanos) {
      this(waitedNanos, storeNanos, null);
    }
  }

  CompletionStage<Released> release(Fence.Lease lease) {
    return release(lease, "");
  }

  /**
   * Releases {@code lease} with the reason the next leader journals (see {@link Fence.Lease#priorRelease}); completes
   * with how long the request waited for the release thread, behind an earlier release or the lane's opening, and
   * how long the store took.
   */
  CompletionStage<Released> release(Fence.Lease lease, String reason) {
    return release(lease, reason, "");
  }

  /**
   * {@link #release(Fence.Lease, String)}, telling the node {@code next} (a node id, or "" for nobody) that the fence
   * is free (see {@link dev.pmmha.persistence.fence.FenceNotices}).
   */
  CompletionStage<Released> release(Fence.Lease lease, String reason, String next) {
    long queued = System.nanoTime();
    return CompletableFuture.supplyAsync(() -> {
      long started = System.nanoTime();
      try {
        fence.release(lease, reason, next);
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
      return new Released(started - queued, System.nanoTime() - started);
    }, releases);
  }

  /**
   * Hands the fence of {@code lease} straight to the tenure {@code holder} that accepted the offer (see
   * {@link Fence#handOver}), on the release thread; timed as {@link #release(Fence.Lease, String, String)}.
   */
  CompletionStage<Released> handOver(Fence.Lease lease, String reason, String holder) {
    long queued = System.nanoTime();
    return CompletableFuture.supplyAsync(() -> {
      long started = System.nanoTime();
      Optional<Fence.Handed> handed;
      try {
        handed = fence.handOver(lease, reason, holder);
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
      return new Released(started - queued, System.nanoTime() - started, handed.orElse(null));
    }, releases);
  }

  /** Whether {@code holder} holds the fence (a hand-over to it went through), on the fence's thread. */
  CompletionStage<Optional<Fence.Handed>> heldBy(String holder) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return fence.heldBy(holder);
      } catch (SQLException e) {
        throw new IllegalStateException(firstLine(e), e);
      }
    }, executor);
  }

  public static String firstLine(Throwable e) {
    return String.valueOf(e.getMessage()).lines().findFirst().orElse(e.getClass().getSimpleName());
  }

  @Override
  public void close() {
    executor.shutdownNow();
    releases.shutdownNow();
    fence.close();
  }
}
