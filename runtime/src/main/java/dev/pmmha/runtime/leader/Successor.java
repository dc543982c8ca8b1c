package dev.pmmha.runtime.leader;

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

  /** How long a fence taken on a notice waits for the singleton before it is given back. */
  static final Duration WAIT = Duration.ofSeconds(3);

  /** A node without notices (H2, or the successor switched off): every singleton asks for the fence itself. */
  public static final Successor NONE = new Successor(null, null, null, null, () -> false);

  private static final Logger log = LoggerFactory.getLogger(Leader.class);

  private final NodeState node;
  private final FenceClient fence;
  private final LeaderSettings settings;
  private final dev.pmmha.runtime.metrics.PmmHaMetrics metrics;
  private final BooleanSupplier mayTakeOver;
  private final Duration wait;
  private Tenure prepared; // guarded by this
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
   * {@code taker} (the connection the notice came on), and falls back to the fence's own thread if that fails.
   */
  public void released(FenceNotices.Released notice, FenceNotices.Taker taker) {
    if (node == null || !notice.next().equals(node.nodeId()) || node.ownEpoch() > 0 || !mayTakeOver.getAsBoolean()) {
      return;
    }
    Tenure t;
    synchronized (this) {
      // one at a time; and none once the singleton is here (a notice that came late: it asks for the fence itself)
      if (prepared != null
          || singletonStartedNanos != 0 && System.nanoTime() - singletonStartedNanos < wait.toNanos()) {
        return;
      }
      t = new Tenure(node.nodeId(), true);
      prepared = t;
    }
    t.fenceRequested = true;
    t.seenAtRequest = Math.max(node.highestEpochSeen(), notice.epoch());
    Optional<dev.pmmha.persistence.fence.Fence.Lease> taken;
    try {
      taken = taker.acquire(t.holder, t.seenAtRequest);
    } catch (java.sql.SQLException | RuntimeException e) {
      taken = Optional.empty();
    }
    // not taken: asked again on the fence's thread, which also says who holds it (the singleton's usual answer)
    t.early = taken.isPresent()
        ? CompletableFuture.completedFuture(new FenceClient.Acquired(taken, null, null))
        : fence.acquire(t.holder, t.seenAtRequest);
    Duration margin = settings.safetyMargin();
    t.early.thenAccept(r -> r.lease().ifPresent(lease ->
        t.answerEarly(node, lease, margin, l -> Leader.keeper(fence, node, settings, metrics, () -> t.owner, l))));
    CompletableFuture.delayedExecutor(wait.toMillis(), TimeUnit.MILLISECONDS).execute(() -> giveUp(t));
  }

  /** For the singleton starting on this node: the tenure a notice prepared for it, if one is waiting. */
  synchronized Optional<Tenure> take() {
    singletonStartedNanos = System.nanoTime();
    Tenure t = prepared;
    prepared = null;
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
