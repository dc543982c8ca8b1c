package dev.pmmha.runtime.leader;

import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.persistence.fence.FenceNotices;
import dev.pmmha.runtime.cluster.NodeState;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's part in a hand-over that names it next: when a leader handing over releases the fence, it tells the
 * node its singleton goes to ({@link FenceNotices}), and that node asks for the fence at once instead of when the
 * singleton reaches it (the singleton's move through the cluster took 13 to 76 ms of the no-leader gap on a busy
 * 2-core host). Taken, the fence is held exactly as a starting singleton holds the one it asks for while it reads its
 * journal ({@link Tenure#answerEarly}): the node answers the leader check, within the lease, which a keeper renews;
 * the singleton adopts the tenure when it starts here ({@link #take}). If it does not come within {@link #WAIT}
 * (the hand-over went elsewhere, or stopped), the fence is given back. Safety does not rest on any of this: the
 * fence decides who holds it, whichever node asks.
 */
public final class Successor {

  /**
   * How long a fence taken on a notice waits for the singleton before it is given back: the singleton starts 7 to 83
   * ms after the release in the lab's hand-overs, and a wrong guess keeps the real next leader waiting this long.
   */
  static final Duration WAIT = Duration.ofSeconds(1);

  /** A node without notices (H2, or the successor switched off): every singleton asks for the fence itself. */
  public static final Successor NONE = new Successor(null, null, null, null, () -> false);

  private static final Logger log = LoggerFactory.getLogger(Leader.class);

  private final NodeState node;
  private final FenceClient fence;
  private final LeaderSettings settings;
  private final dev.pmmha.runtime.metrics.PmmHaMetrics metrics;
  private final BooleanSupplier mayTakeOver;
  private final Duration wait;
  private Tenure prepared; // guarded by this: a tenure that holds the fence, waiting for the singleton
  private Tenure inFlight; // guarded by this: a tenure whose fence a notice's take-over is asking for
  /** When a singleton last started here (System.nanoTime(), 0 never): a notice later than that is not acted on. */
  private long singletonStartedNanos; // guarded by this

  /**
   * {@code mayTakeOver}: whether this node may take the fence on a notice now (Up, may lead, not leaving and not
   * stepping aside); checked on each notice.
   */
  public Successor(NodeState node, FenceClient fence, LeaderSettings settings,
      dev.pmmha.runtime.metrics.PmmHaMetrics metrics, BooleanSupplier mayTakeOver) {
    this(node, fence, settings, metrics, mayTakeOver, WAIT);
  }

  /** {@code wait}: how long a fence taken on a notice waits for the singleton ({@link #WAIT}; shorter in tests). */
  Successor(NodeState node, FenceClient fence, LeaderSettings settings,
      dev.pmmha.runtime.metrics.PmmHaMetrics metrics, BooleanSupplier mayTakeOver, Duration wait) {
    this.wait = wait;
    this.node = node;
    this.fence = fence;
    this.settings = settings;
    this.metrics = metrics;
    this.mayTakeOver = mayTakeOver;
  }

  /**
   * A notice from the store (called on the notices' thread): takes the fence if this node is the one named, through
   * {@code taker} (the connection the notice came on). A singleton that starts here while the fence is being
   * taken adopts the tenure at once and waits for the outcome ({@link #take}) rather than asking for the fence
   * beside it (two requests of one node took two epochs, and a switchover reported the first); if the notice's
   * request did not get the fence, the singleton's request follows it.
   */
  public void released(FenceNotices.Released notice, FenceNotices.Taker taker) {
    if (node == null || !notice.next().equals(node.nodeId()) || node.ownEpoch() > 0) {
      return;
    }
    if (!mayTakeOver.getAsBoolean()) {
      log.info("LEADER on {}: named next by the release of epoch {}, but does not take the fence on the notice: it "
          + "is not Up, is leaving or stepping aside, may not lead, or another member stands before it in its view",
          node.nodeId(), notice.epoch());
      return;
    }
    Tenure t = new Tenure(node.nodeId(), true);
    CompletableFuture<FenceClient.Acquired> result = new CompletableFuture<>();
    synchronized (this) {
      // one at a time; and none once the singleton is here (a notice that came late: it asks for the fence itself)
      if (inFlight != null || prepared != null) {
        return;
      }
      // the clock is read under the lock, after the singleton's start if that came first: the lead is never negative
      long handled = System.nanoTime();
      if (singletonStartedNanos != 0 && handled - singletonStartedNanos < wait.toNanos()) {
        log.info("LEADER on {}: named next by the release of epoch {}; its singleton started {} ms before the "
            + "notice was handled and asks for the fence itself", node.nodeId(), notice.epoch(),
            (handled - singletonStartedNanos) / 1_000_000);
        return;
      }
      t.fenceRequested = true;
      t.seenAtRequest = Math.max(node.highestEpochSeen(), notice.epoch());
      t.early = result;
      inFlight = t;
    }
    Optional<Fence.Lease> taken;
    try {
      taken = taker.acquire(t.holder, t.seenAtRequest);
    } catch (java.sql.SQLException | RuntimeException e) {
      taken = Optional.empty(); // not free, or the store did not answer: the singleton asks for it when it comes
    }
    boolean adopted;
    synchronized (this) {
      // the singleton started while the fence was being taken, and took this tenure (take): it waits for the result
      adopted = inFlight != t;
      inFlight = null;
      if (!adopted && taken.isPresent()) {
        prepared = t;
      }
    }
    if (taken.isEmpty()) {
      if (adopted) {
        // the singleton waits on this tenure: it asks for the fence as it would have itself
        fence.acquire(t.holder, t.seenAtRequest).whenComplete((r, failure) -> {
          if (r != null && r.lease().isPresent()) {
            answerEarly(t, r.lease().get());
          }
          if (failure != null) {
            result.completeExceptionally(failure);
          } else {
            result.complete(r);
          }
        });
      }
      return;
    }
    answerEarly(t, taken.get());
    result.complete(new FenceClient.Acquired(taken, null, null));
    if (!adopted) {
      CompletableFuture.delayedExecutor(wait.toMillis(), TimeUnit.MILLISECONDS).execute(() -> giveUp(t));
    }
  }

  private void answerEarly(Tenure t, Fence.Lease lease) {
    t.answerEarly(node, lease, settings.safetyMargin(),
        l -> Leader.keeper(fence, node, settings, metrics, () -> t.owner, l));
  }

  /**
   * For the singleton starting on this node: the tenure a notice prepared for it, if one is waiting, or is being
   * taken just then (its {@link Tenure#early} completes when the fence is taken, or asked for as the singleton would).
   */
  synchronized Optional<Tenure> take() {
    singletonStartedNanos = System.nanoTime();
    Tenure t = prepared != null ? prepared : inFlight;
    prepared = null;
    inFlight = null;
    return Optional.ofNullable(t);
  }

  /** The singleton did not come for {@code t}: its early answer ends and the fence it got is given back. */
  private void giveUp(Tenure t) {
    synchronized (this) {
      if (prepared != t) {
        return; // adopted by the singleton
      }
      prepared = null;
    }
    t.closeEarly(node);
    t.cancelEarlyKeeper();
    t.early.thenAccept(r -> r.lease().ifPresent(lease -> {
      log.warn("LEADER on {}: the singleton did not come within {} ms of the release's notice; giving the fence of "
          + "epoch {} back", node.nodeId(), wait.toMillis(), lease.epoch());
      fence.release(lease);
    }));
  }
}
