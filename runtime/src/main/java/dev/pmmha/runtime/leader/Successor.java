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
 *
 * <p>Faster still, without a statement here: before it stops answering, the leader offers this node the fence
 * ({@link #offered}, over the cluster); the node names a tenure and takes the time, and the leader's release gives the
 * fence straight to that tenure ({@link Fence#handOver}), whose notice ({@link #handedOver}) makes this node answer.
 * Its lease counts from the offer, which came before the statement that gave it, so this node's view of the lease
 * never outlasts the store's. An offer whose notice does not come is settled by reading the fence (the singleton's
 * start, {@link #take}, or the offer's lapse).
 */
public final class Successor implements FenceNotices.Handler {

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
  private Offer offer; // guarded by this: a tenure offered the fence, until its hand-over's notice comes
  /** The holder id of the last offer the singleton's start settled by reading the fence (for its notice's log line). */
  private String settledHolder = ""; // guarded by this
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
   * An offer this node accepted: the tenure the fence is to be given to, the epoch it replaces, who held that one and
   * why it ends, and when the offer came ({@link System#nanoTime()}, before the acceptance left: the lease counts from
   * it).
   */
  private record Offer(Tenure tenure, long epoch, String from, String reason, long offeredNanos) {
    /** The lease a hand-over to this offer's tenure gave. */
    Fence.Lease lease(long handedEpoch, long atMillis, long leaseMillis) {
      return new Fence.Lease(handedEpoch, tenure.holder, offeredNanos, Duration.ofMillis(leaseMillis), epoch,
          new Fence.Release(from, atMillis, reason));
    }
  }

  /**
   * The leader of {@code epoch} (its holder {@code from}) offers this node the fence on its way out, with the reason
   * its release records (called on the actor's thread that heard the offer). Returns the holder id of the tenure the
   * fence may be given to, or "" to decline: not Up, leaving, may not lead, not next in this node's own view, already
   * leading or taking over, or its singleton has started here. The clock is read before this returns, so before the
   * acceptance reaches the leader and before the statement that hands the fence over.
   */
  public String offered(long epoch, String from, String reason) {
    if (node == null || node.ownEpoch() > 0) {
      return "";
    }
    if (!mayTakeOver.getAsBoolean()) {
      log.info("LEADER on {}: offered the fence of epoch {}, declined: it is not Up, is leaving or stepping aside, may "
          + "not lead, or another member stands before it in its view", node.nodeId(), epoch);
      return "";
    }
    Offer o;
    synchronized (this) {
      long now = System.nanoTime();
      if (inFlight != null || prepared != null || offer != null
          || (singletonStartedNanos != 0 && now - singletonStartedNanos < wait.toNanos())) {
        return "";
      }
      Tenure t = new Tenure(node.nodeId(), Tenure.Origin.OFFER);
      t.fenceRequested = true;
      t.seenAtRequest = Math.max(node.highestEpochSeen(), epoch);
      o = new Offer(t, epoch, from, reason, now);
      offer = o;
    }
    CompletableFuture.delayedExecutor(wait.toMillis(), TimeUnit.MILLISECONDS).execute(() -> offerLapsed(o));
    return o.tenure().holder;
  }

  /**
   * The notice of a hand-over (called on the notices' thread): if the fence went to the tenure this node offered, it
   * answers the leader check from now on, within the lease counted from the offer, and waits {@link #WAIT} for the
   * singleton as a take-over on a notice does.
   */
  @Override
  public void handedOver(FenceNotices.HandedOver notice) {
    handedOver(notice, "the store's notice");
  }

  /**
   * {@link #handedOver(FenceNotices.HandedOver)}, heard {@code via} the store's notice or from the leader through the
   * cluster ({@link HandOverOffers}): the first to come is acted on, the other finds nothing left to do.
   */
  void handedOver(FenceNotices.HandedOver notice, String via) {
    Tenure t;
    Fence.Lease lease;
    synchronized (this) {
      if (offer == null && settledHolder.equals(notice.holder())) {
        log.info("LEADER on {}: the hand-over of epoch {} ({}) came {} ms after the singleton started here (which read "
            + "the fence instead)", node.nodeId(), notice.epoch(), via,
            (System.nanoTime() - singletonStartedNanos) / 1_000_000);
        settledHolder = "";
        return;
      }
      if (offer == null || !offer.tenure().holder.equals(notice.holder()) || notice.epoch() <= offer.epoch()) {
        return;
      }
      lease = offer.lease(notice.epoch(), notice.atMillis(), notice.leaseMillis());
      t = offer.tenure();
      t.handedVia = via;
      t.early = CompletableFuture.completedFuture(new FenceClient.Acquired(Optional.of(lease), null, null));
      offer = null;
      prepared = t; // the singleton adopts it from here (take)
    }
    answerEarly(t, lease);
    CompletableFuture.delayedExecutor(wait.toMillis(), TimeUnit.MILLISECONDS).execute(() -> giveUp(t));
  }

  /**
   * An offer taken by the singleton's start before its notice came: the fence row says whether the hand-over went
   * through; if it did not, the singleton asks for the fence as it would have itself.
   */
  private void settleByReading(Offer o, CompletableFuture<FenceClient.Acquired> result) {
    Tenure t = o.tenure();
    fence.heldBy(t.holder).whenComplete((handed, failure) -> {
      if (handed != null && handed.isPresent() && handed.get().epoch() > o.epoch()) {
        t.handedVia = "read by its singleton";
        Fence.Lease lease = o.lease(handed.get().epoch(), handed.get().atMillis(), handed.get().leaseMillis());
        answerEarly(t, lease);
        result.complete(new FenceClient.Acquired(Optional.of(lease), null, null));
      } else {
        t.origin = Tenure.Origin.OFFER_NOT_TAKEN_UP; // its early answer's line says so, not "handed over"
        acquireFor(t, result);
      }
    });
  }

  /** Asks for the fence for {@code t} as the singleton would have itself, and completes {@code result} with it. */
  private void acquireFor(Tenure t, CompletableFuture<FenceClient.Acquired> result) {
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

  /**
   * Neither the notice nor the singleton came for an accepted offer within {@link #WAIT}: if the fence was handed to
   * it all the same (its notice lost), it is given back, so that the real next leader need not wait out the lease.
   */
  private void offerLapsed(Offer o) {
    synchronized (this) {
      if (offer != o) {
        return;
      }
      offer = null;
    }
    fence.heldBy(o.tenure().holder).thenAccept(handed -> handed.ifPresent(h -> {
      log.warn("LEADER on {}: offered the fence of epoch {}, it was handed over (epoch {}) but neither the notice nor "
          + "the singleton came within {} ms; giving it back", node.nodeId(), o.epoch(), h.epoch(), wait.toMillis());
      fence.release(o.lease(h.epoch(), h.atMillis(), h.leaseMillis()));
    }));
  }

  /**
   * A notice from the store (called on the notices' thread): takes the fence if this node is the one named, through
   * {@code taker} (the connection the notice came on). A singleton that starts here while the fence is being
   * taken adopts the tenure at once and waits for the outcome ({@link #take}) rather than asking for the fence
   * beside it (two requests of one node took two epochs, and a switchover reported the first); if the notice's
   * request did not get the fence, the singleton's request follows it.
   */
  @Override
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
    Tenure t = new Tenure(node.nodeId(), Tenure.Origin.NOTICE);
    CompletableFuture<FenceClient.Acquired> result = new CompletableFuture<>();
    synchronized (this) {
      // a plain release: an offer this node accepted was not taken up (the leader's hand-over fell back to it)
      offer = null;
      boolean settled = !settledHolder.isEmpty() && System.nanoTime() - singletonStartedNanos < wait.toNanos();
      settledHolder = "";
      if (settled) {
        // its singleton came first and read the fence for the offer this node had accepted: not handed over, so the
        // singleton asks for it (and its line says so); this notice of the plain release adds nothing
        log.info("LEADER on {}: named next by the release of epoch {}, after its singleton had found the offer not "
            + "taken up; the singleton asks for the fence itself", node.nodeId(), notice.epoch());
        return;
      }
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
        acquireFor(t, result);
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
   * taken just then, or was offered the fence (its {@link Tenure#early} completes when the fence is taken or found
   * handed over, or asked for as the singleton would).
   */
  synchronized Optional<Tenure> take() {
    singletonStartedNanos = System.nanoTime();
    Tenure t = prepared != null ? prepared : inFlight;
    prepared = null;
    inFlight = null;
    if (t == null && offer != null) {
      // offered, and the singleton came before the notice: the fence row tells whether it was handed over
      Offer o = offer;
      offer = null;
      settledHolder = o.tenure().holder;
      t = o.tenure();
      CompletableFuture<FenceClient.Acquired> result = new CompletableFuture<>();
      t.early = result;
      settleByReading(o, result);
    }
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
