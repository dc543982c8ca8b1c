package dev.pmmha.runtime.leader;

import dev.pmmha.http.api.LeaderView.LeaderInfo;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.runtime.cluster.CutOffWatch;
import dev.pmmha.runtime.cluster.NodeState;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's side of one singleton incarnation's leadership: the phase it is in, the fence lease it holds and
 * the keeper renewing it. Kept outside the event-sourced behavior so that it outlives the behavior's restarts;
 * written by the {@link Leader} actor only, except the early answer, which the fence thread gives (guarded by
 * this object's lock).
 */
final class Tenure {

  /** Where the singleton is in its leadership; each phase handles only its own commands (see {@link Leader}). */
  enum Phase {
    /** No fence held: asking for it, or waiting to ask again. */
    ACQUIRING,
    /** The fence is held and {@code LeaderElected} is being written; the node answers the leader check already. */
    ELECTING,
    /** Elected: the services run, settings are written, the lease is kept and announced. */
    LEADING,
    /** Stopped while leading: the services stop, then the fence is released (the next leader journals it). */
    HANDING_OVER,
    /** Stopping with nothing left to undo but the fence: it is released (if held), then the actor stops. */
    STOPPING
  }

  /** The leader's own logger: its lines read as the leader's, which they are. */
  private static final Logger log = LoggerFactory.getLogger(Leader.class);

  final String holder;
  /** When this incarnation of the singleton started ({@link System#nanoTime()}). */
  final long startedNanos = System.nanoTime();
  /** The node the hand-over expects the singleton to go to ("" if none), told of the release by the store. */
  String next = "";
  /** The tenure of the next node that accepted this one's offer of the fence ("" if none): it is handed the fence. */
  String handTo = "";
  /** Where to tell that node the fence was handed to it (null if none). */
  org.apache.pekko.actor.typed.ActorRef<Leader.News> handToDesk;
  /** When this tenure offered the fence to the next node ({@link System#nanoTime()}, 0 if it did not). */
  long offeredNanos;
  /** When the hand-over began ({@link System#nanoTime()}, 0 before), for the step times its log lines give. */
  long handOverNanos;
  /** When the services had stopped during the hand-over ({@link System#nanoTime()}, 0 before). */
  long servicesStoppedNanos;
  Phase phase = Phase.ACQUIRING;
  Fence.Lease lease;
  /** A fence request is on its way (its answer comes back as {@code AcquireDone}). */
  boolean fenceRequested;
  /** Renews the lease on the fence thread while it is held (see {@link FenceClient.Keeper}). */
  FenceClient.Keeper keeper;
  /** Watches for this node being cut off from the cluster that leads. */
  final CutOffWatch cutOff = new CutOffWatch(CutOffWatch.PATIENCE);
  /** The fence asked for at start, during recovery; taken over by the first RecoveryCompleted. */
  CompletionStage<FenceClient.Acquired> early;
  /** The highest epoch this node had seen when it last asked for the fence: the floor of the epoch it takes. */
  long seenAtRequest;
  /** What the leader last logged it waits for, so that each wait is logged once. */
  String lastWait = "";
  /** No early answer any more (see {@link #answerEarly}): set when this tenure starts to stop or ends. */
  private boolean earlyClosed; // guarded by this
  /** Renews the fence taken at start until the actor adopts it (see {@link #answerEarly}). */
  private FenceClient.Keeper earlyKeeper; // guarded by this

  /** How this tenure comes by the fence it holds, for the line its early answer logs. */
  enum Origin {
    /** Asked for by its singleton when it started. */
    SINGLETON,
    /** Asked for on a release's notice that named this node, before the singleton came ({@link Successor}). */
    NOTICE,
    /**
     * Offered by the leader handing over, which gives the fence straight to this tenure ({@link Successor#offered}):
     * its lease counts from the offer.
     */
    OFFER,
    /** Offered, but the leader's release did not hand it over: the singleton that came asked for the fence itself. */
    OFFER_NOT_TAKEN_UP
  }

  /** How this tenure comes by its fence; set before the fence is taken, read with the early answer. */
  volatile Origin origin;
  /** How this node heard it was handed the fence: told by the cluster, the store's notice, or read by its singleton. */
  volatile String handedVia = "";
  /** The leader actor that owns this tenure; null until the singleton adopts a tenure taken on a notice. */
  volatile org.apache.pekko.actor.typed.ActorRef<Leader.Command> owner;

  Tenure(String nodeId) {
    this(nodeId, Origin.SINGLETON);
  }

  Tenure(String nodeId, Origin origin) {
    this.holder = nodeId + "/" + UUID.randomUUID().toString().substring(0, 8);
    this.origin = origin;
  }

  /** The leader services run (or are stopping) for the held epoch, and the role hook was told "leader". */
  boolean servicesUp() {
    return phase == Phase.LEADING || phase == Phase.HANDING_OVER;
  }

  boolean stopping() {
    return phase == Phase.HANDING_OVER || phase == Phase.STOPPING;
  }

  long epoch() {
    return lease == null ? 0 : lease.epoch();
  }

  /**
   * The fence asked for at start was taken while the journal is still being read. Its lease is kept from now on
   * ({@code keep} starts the keeper, which the actor adopts), so that a slow recovery does not let it run out.
   * And the node answers the leader check from now on, before the recovery, the {@code LeaderElected} write and
   * the services (each 200 bounded by the lease, like every other: the fence, not the journal, rules out two
   * leaders); only for an epoch above every one this node has heard announced, so that no answer shows an epoch
   * going backwards; the journal check after the recovery takes the answer back in the one case it could: a
   * fence row reset behind the journal. Runs on the fence's thread.
   */
  synchronized void answerEarly(NodeState node, Fence.Lease lease, Duration safetyMargin,
      Function<Fence.Lease, FenceClient.Keeper> keep) {
    if (earlyClosed) {
      return;
    }
    earlyKeeper = keep.apply(lease);
    long known = node.currentLeader().map(LeaderInfo::epoch).orElse(0L);
    if (lease.epoch() > known) {
      node.leadershipGained(lease.epoch(), Instant.now(), lease.actUntilNanos(safetyMargin));
      long now = System.nanoTime();
      // since the request went to the store; an offer's lease counts from the offer, so for it since the offer
      long sinceSent = (now - lease.sentNanos()) / 1_000_000;
      String singleton = owner == null ? "before the singleton came" : "its singleton started and waiting for it";
      switch (origin) {
        case OFFER -> log.info("LEADER on {}: fence handed over for epoch {} {} ms after this node accepted the offer "
            + "({}), {}; answering the leader check", node.nodeId(), lease.epoch(), sinceSent, handedVia, singleton);
        case NOTICE -> log.info("LEADER on {}: fence taken for epoch {} {} ms after the release's notice, {} ({} ms in "
            + "the store); answering the leader check", node.nodeId(), lease.epoch(), (now - startedNanos) / 1_000_000,
            singleton, sinceSent);
        case OFFER_NOT_TAKEN_UP -> log.info("LEADER on {}: fence taken for epoch {} by its singleton {} ms after this "
            + "node accepted the offer, which the release did not take up ({} ms in the store); answering the leader "
            + "check while the journal is read", node.nodeId(), lease.epoch(), (now - startedNanos) / 1_000_000,
            sinceSent);
        case SINGLETON -> log.info("LEADER on {}: fence taken for epoch {} {} ms after the singleton started ({} ms in "
            + "the store); answering the leader check while the journal is read", node.nodeId(), lease.epoch(),
            (now - startedNanos) / 1_000_000, sinceSent);
      }
    }
  }

  /** Stops answering 200, and rules out an early answer arriving after this. */
  synchronized void closeEarly(NodeState node) {
    earlyClosed = true;
    node.leadershipLost();
  }

  /**
   * The keeper {@link #answerEarly} started, if it did, handed to the actor (which then owns it); nothing early
   * happens after this.
   */
  synchronized FenceClient.Keeper adoptEarlyKeeper() {
    earlyClosed = true;
    FenceClient.Keeper k = earlyKeeper;
    earlyKeeper = null;
    return k;
  }

  /** The end of this tenure's life: an early keeper nobody adopted stops (its lease runs out). */
  synchronized void cancelEarlyKeeper() {
    earlyClosed = true;
    if (earlyKeeper != null) {
      earlyKeeper.cancel();
      earlyKeeper = null;
    }
  }

  /** Stops renewing the lease this actor's keeper renews. */
  void stopKeeper() {
    if (keeper != null) {
      keeper.cancel();
      keeper = null;
    }
  }
}
