package dev.pmmha.runtime.leader;

import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.http.routes.Json;
import dev.pmmha.persistence.CborSerializable;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.runtime.Guardian;
import dev.pmmha.runtime.cluster.CutOffWatch;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.leader.LeaderEvent.LeaderElected;
import dev.pmmha.runtime.leader.LeaderEvent.LeaderReleased;
import dev.pmmha.runtime.leader.LeaderEvent.SettingChanged;
import dev.pmmha.runtime.leader.LeaderEvent.SettingRemoved;
import dev.pmmha.runtime.leader.spi.ActingRight;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The PMM leader: a Cluster Singleton, so the node that runs it is the leader candidate. It becomes the leader
 * once it has taken the fence in the store (which bumps the epoch): its node answers the health check with 200
 * from then on, while it persists {@link LeaderElected} for that epoch; once that is written it starts the
 * leader services, announces itself and reports the role change. It renews the fence lease while it leads and
 * steps down when the lease runs out (store outage, pause), taking the fence again with a new epoch when it can.
 * Every event it writes is a fenced write: the store rejects it unless its epoch holds the fence.
 *
 * <p>Its life is a few phases ({@link Tenure.Phase}), each with only the commands it handles: ACQUIRING (asking
 * for the fence) -> ELECTING (fence held, {@link LeaderElected} being written) -> LEADING -> HANDING_OVER (on the
 * stop message: the services stop) -> STOPPING (the fence is released with the reason, the actor stops). Losing
 * the lease goes from LEADING back to ACQUIRING; a stop before election goes straight to STOPPING.
 *
 * <p>On the singleton's stop message (hand-over, graceful leave) its node stops answering 200 first, the
 * services stop, and then the fence is released with the reason, so that the next leader need not wait for the
 * lease. The old leader writes nothing to the journal on its way out: the next one journals the release, as the
 * fence recorded it, in the same write as its own {@link LeaderElected} (a journal write during the JVM's
 * shutdown was the largest step of the hand-over gap, 16-197 ms). The cluster-wide settings live here too: any
 * node forwards writes to this actor, which persists them before it replies and publishes each new snapshot to
 * every node.
 *
 * <p>What survives a restart or a hand-over: the epoch history and the settings, in the journal. Replies go to
 * the {@code replyTo} of each request; news goes to every node through the leader topic.
 */
public final class Leader extends EventSourcedBehaviorWithEnforcedReplies<Leader.Command, LeaderEvent, LeaderState> {

  public sealed interface Command extends CborSerializable {}

  public record GetStatus(ActorRef<Status> replyTo) implements Command {}

  /** The leader's view: {@code elected} is true while it holds the fence and its epoch is persisted. */
  public record Status(String nodeId, long epoch, Instant since, boolean elected) implements CborSerializable {}

  public record PutSetting(String key, String json, ActorRef<StatusReply<SettingWritten>> replyTo) implements Command {}

  public record DeleteSetting(String key, ActorRef<StatusReply<SettingWritten>> replyTo) implements Command {}

  public record GetSettings(ActorRef<SettingsSnapshot> replyTo) implements Command {}

  /** The reply to a settings write; {@code existed} is false for a delete of a key that was not there. */
  public record SettingWritten(String key, long version, long epoch, boolean existed) implements CborSerializable {}

  /** The singleton's stop message: hand leadership over gracefully. */
  public enum Stop implements Command {
    INSTANCE
  }

  /** What the leader tells every node, on the leader topic. */
  public sealed interface News extends CborSerializable {}

  /** Who leads, with which epoch and settings version; sent when elected and every {@code announce-interval}. */
  public record Announcement(String nodeId, long epoch, Instant since, long settingsVersion) implements News {}

  /**
   * Whether a node reaches the store, sent by every node every {@code announce-interval}: a leader that cannot
   * hold its fence steps aside only while most of the cluster can.
   */
  public record StoreHealth(String nodeId, boolean reachable) implements News {}

  /** A switchover from {@code from} to {@code to} was asked for on {@code askedOn}; the leader records it. */
  public record SwitchoverAsked(String from, String to, String askedOn) implements News {}

  /**
   * The leader of {@code epoch} (holder {@code from}), handing over, offers the fence to the node {@code next}, which
   * answers on {@code replyTo} (see {@link Successor#offered}); every other node ignores it.
   */
  public record HandOverOffer(String next, long epoch, String from, String reason, ActorRef<HandOverAccepted> replyTo)
      implements News {}

  /**
   * The answer to a {@link HandOverOffer}: the holder id the fence may be given to, "" when declined; and where to
   * tell the node that it was ({@link FenceHandedOver}).
   */
  public record HandOverAccepted(String holder, ActorRef<News> desk) implements CborSerializable {}

  /**
   * Sent by the leader that handed over, straight to the accepting node's desk as soon as its statement returned:
   * the fence is {@code holder}'s with {@code epoch}, given at {@code atMillis} (the store's clock) with a lease of
   * {@code leaseMillis}. The same as the store's notice ({@link dev.pmmha.persistence.fence.FenceNotices.HandedOver}),
   * which the node may hear first; through the cluster it comes before the singleton does.
   */
  public record FenceHandedOver(String holder, long epoch, long atMillis, long leaseMillis) implements News {}

  /** Every setting at {@code version}; sent after each write and on request. */
  public record SettingsSnapshot(long version, Map<String, LeaderState.Setting> settings) implements News {
    /** The shape the routes render: each value's JSON parsed once, here. */
    public SettingsApi.Snapshot toApi() {
      Map<String, SettingsApi.Setting> out = new java.util.TreeMap<>();
      settings.forEach((key, s) -> {
        try {
          out.put(key, new SettingsApi.Setting(key, Json.MAPPER.readTree(s.json()), s.version(), s.updatedAt(),
              s.updatedBy()));
        } catch (java.io.IOException e) {
          throw new IllegalStateException("stored setting " + key + " is not JSON", e);
        }
      });
      return new SettingsApi.Snapshot(version, java.util.Collections.unmodifiableMap(out));
    }
  }

  private enum Acquire implements Command {
    INSTANCE
  }

  private enum Renew implements Command {
    INSTANCE
  }

  private enum Announce implements Command {
    INSTANCE
  }

  /** The services have stopped, at {@code atNanos} ({@link System#nanoTime()}, taken when they had). */
  private record ServicesStopped(long atNanos) implements Command {}

  /** The next node's answer to this leader's offer of the fence ("" declined, or no answer in time; desk then null). */
  private record OfferAnswered(String holder, ActorRef<News> desk) implements Command {}

  private enum FenceReleased implements Command {
    INSTANCE
  }

  private record AcquireDone(FenceClient.Acquired result) implements Command {}

  /** What the lease keeper saw, for this actor's bookkeeping: renewed ({@code lease}), lost, or failed ({@code error}). */
  private record RenewDone(long epoch, Optional<Fence.Lease> lease, String error) implements Command {}

  public static final String TOPIC = "pmm-ha-leader";
  /**
   * How long a leader handing over waits for the next node to answer its offer of the fence, still answering 200
   * (so not part of the no-leader gap); no answer and the release tells that node instead.
   */
  static final Duration OFFER_TIMEOUT = Duration.ofMillis(150);
  public static final String SINGLETON_NAME = "pmm-leader";
  /** The singleton's dispatcher (reference.conf): a thread of its own. */
  public static final String DISPATCHER = "pmm-ha.leader-dispatcher";

  /** Everything the leader works with on its node. */
  public record Deps(
      NodeState node,
      ActorRef<Topic.Command<News>> topic,
      FenceClient fence,
      LeaderServices services,
      RoleChangeHook hook,
      LeaderSettings settings,
      PmmHaMetrics metrics,
      Successor successor) {

    /** Without notices: every singleton asks for the fence itself when it starts. */
    public Deps(NodeState node, ActorRef<Topic.Command<News>> topic, FenceClient fence, LeaderServices services,
        RoleChangeHook hook, LeaderSettings settings, PmmHaMetrics metrics) {
      this(node, topic, fence, services, hook, settings, metrics, Successor.NONE);
    }
  }

  public static Behavior<Command> create(Deps deps) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      ActorRef<Command> self = ctx.getSelf();
      // a hand-over that named this node may have asked for the fence already, on the release's notice
      Tenure prepared = deps.successor().take().orElse(null);
      if (prepared != null) {
        prepared.owner = self;
        ctx.getLog().info("Leader singleton starting on {}: recovering the leader's journal; the fence was asked for "
            + "{} ms ago, on the release's notice", deps.node().nodeId(),
            (System.nanoTime() - prepared.startedNanos) / 1_000_000);
        return new Leader(ctx, timers, deps, prepared);
      }
      ctx.getLog().info("Leader singleton starting on {}: recovering the leader's journal", deps.node().nodeId());
      Tenure tenure = new Tenure(deps.node().nodeId());
      tenure.owner = self;
      // Ask for the fence while the journal is read, not after: on a hand-over the previous leader has released
      // it, and this saves one database round trip of the no-leader gap. The fence's epoch is never below the
      // journal's (every journal write is fenced), so the journal's epoch is not needed here; onAcquireDone checks
      // it. The epochs this node has seen are: a store that went back in time (a standby promoted without the
      // last commits) must not hand out an epoch the cluster already saw.
      tenure.fenceRequested = true;
      tenure.seenAtRequest = deps.node().highestEpochSeen();
      tenure.early = deps.fence().acquire(tenure.holder, tenure.seenAtRequest);
      tenure.early.thenAccept(r -> r.lease().ifPresent(lease -> tenure.answerEarly(deps.node(), lease,
          deps.settings().safetyMargin(), l -> keeper(deps, self, l))));
      return new Leader(ctx, timers, deps, tenure);
    }));
  }

  private final ActorContext<Command> ctx;
  private final TimerScheduler<Command> timers;
  private final Deps deps;
  private final NodeState node;
  private final Tenure tenure;

  private Leader(ActorContext<Command> ctx, TimerScheduler<Command> timers, Deps deps, Tenure tenure) {
    super(
        PersistenceId.ofUniqueId(LeaderState.PERSISTENCE_ID),
        SupervisorStrategy.restartWithBackoff(Duration.ofMillis(200), Duration.ofSeconds(2), 0.2));
    this.ctx = ctx;
    this.timers = timers;
    this.deps = deps;
    this.node = deps.node();
    this.tenure = tenure;
  }

  @Override
  public LeaderState emptyState() {
    return LeaderState.empty();
  }

  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.snapshotEvery(100, 2);
  }

  @Override
  public Set<String> tagsFor(LeaderEvent event) {
    // a release is journaled by the next leader (releasedBefore): a fenced write of that leader's epoch
    long writer = event instanceof LeaderReleased && tenure.lease != null ? tenure.lease.epoch() : event.epoch();
    if (event instanceof LeaderElected || event instanceof LeaderReleased) {
      return Set.of(Fence.epochTag(writer), PmmHaMetrics.LEADERSHIP_TAG);
    }
    return Set.of(Fence.epochTag(writer));
  }

  @Override
  public SignalHandler<LeaderState> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> {
          ctx.getLog().info("Leader singleton recovered on {}: last epoch {} held by {}, settings version {}",
              node.nodeId(), state.epoch(), state.nodeId().isEmpty() ? "nobody" : state.nodeId(),
              state.settingsVersion());
          var early = tenure.early;
          tenure.early = null;
          if (early != null) {
            tenure.fenceRequested = true;
            ctx.pipeToSelf(early, (result, failure) -> acquireDone(result, failure));
          } else {
            ctx.getSelf().tell(Acquire.INSTANCE);
          }
        })
        .onSignal(PreRestart.instance(), state -> endOfLife("restart after a failure"))
        .onSignal(PostStop.instance(), state -> endOfLife("stopped"))
        .build();
  }

  /** The actor is going away (or restarting): whatever it led ends here. */
  private void endOfLife(String why) {
    timers.cancelAll();
    Fence.Lease held = heldLease();
    java.util.concurrent.CompletionStage<?> servicesStopped = java.util.concurrent.CompletableFuture.completedFuture(null);
    if (tenure.servicesUp()) {
      ctx.getLog().info("LEADER ends on {} ({}): epoch {}", node.nodeId(), why, tenure.epoch());
      node.leadershipLost();
      servicesStopped = deps.services().stopAll();
      deps.hook().roleChanged("follower", tenure.epoch());
    }
    tenure.closeEarly(node);
    tenure.cancelEarlyKeeper();
    if (held != null && tenure.phase != Tenure.Phase.STOPPING && "stopped".equals(why)) {
      // Stopped without the hand-over (its node downed itself, or was downed): the fence is released once its
      // services have stopped, as a hand-over would, so that the next leader need not wait out the lease
      // (the failover lab's isolated leader: 0.7 s sooner). A restart keeps it; the lease runs out instead.
      FenceClient fence = deps.fence();
      servicesStopped.whenComplete((v, failure) -> fence.release(held));
    }
    // The lease goes too: a restarted incarnation that kept it would never take the fence again; it takes it
    // anew once this lease has expired.
    tenure.stopKeeper();
    tenure.lease = null;
    tenure.fenceRequested = false;
    tenure.early = null;
    tenure.phase = tenure.stopping() ? Tenure.Phase.STOPPING : Tenure.Phase.ACQUIRING;
  }

  private static AcquireDone acquireDone(FenceClient.Acquired result, Throwable failure) {
    return new AcquireDone(failure != null
        ? new FenceClient.Acquired(Optional.empty(), null, FenceClient.firstLine(failure)) : result);
  }

  /**
   * Starts renewing {@code lease} on the fence thread. A renewal updates this node's right to act there and then
   * (no trip through this actor); the actor hears of each outcome for its log and to step down when the lease is
   * lost. The actor's Renew timer stays as the watchdog that steps down once the lease has run out.
   */
  private void startKeeper(Fence.Lease lease) {
    tenure.stopKeeper();
    tenure.keeper = keeper(deps, ctx.getSelf(), lease);
  }

  /** Renews {@code lease} on the fence's thread; each outcome goes to this node's state and to {@code self}. */
  private static FenceClient.Keeper keeper(Deps deps, ActorRef<Command> self, Fence.Lease lease) {
    return keeper(deps.fence(), deps.node(), deps.settings(), deps.metrics(), () -> self, lease);
  }

  /**
   * The keeper for {@code lease}, telling the actor {@code owner} gives of each renewal; a tenure taken on a
   * release's notice has no actor until the singleton adopts it (owner null: the node's right to act is still
   * renewed).
   */
  static FenceClient.Keeper keeper(FenceClient fence, NodeState node, LeaderSettings settings, PmmHaMetrics metrics,
      java.util.function.Supplier<ActorRef<Command>> owner, Fence.Lease lease) {
    Duration margin = settings.safetyMargin();
    return fence.keep(lease, settings.renewInterval(), new FenceClient.KeeperListener() {
      @Override
      public void renewed(Fence.Lease l) {
        node.leaseRenewed(l.epoch(), l.actUntilNanos(margin));
        if (metrics != null) {
          metrics.fenceRenewed(System.nanoTime() - l.sentNanos());
        }
        tell(new RenewDone(l.epoch(), Optional.of(l), null));
      }

      @Override
      public void lost(Fence.Lease last) {
        tell(new RenewDone(last.epoch(), Optional.empty(), null));
      }

      @Override
      public void failed(Fence.Lease last, String error) {
        tell(new RenewDone(last.epoch(), Optional.empty(), error));
      }

      private void tell(Command c) {
        ActorRef<Command> to = owner.get();
        if (to != null) {
          to.tell(c);
        }
      }
    });
  }

  /**
   * One handler set per {@link Tenure.Phase}; what a phase does not name falls through to the handlers for any
   * phase at the end (status, settings reads, refused writes, lease bookkeeping), and a timer left over from an
   * earlier phase is dropped there.
   */
  @Override
  public CommandHandlerWithReply<Command, LeaderEvent, LeaderState> commandHandler() {
    var b = newCommandHandlerWithReplyBuilder();
    b.forState(s -> tenure.phase == Tenure.Phase.ACQUIRING)
        .onCommand(Acquire.class, (state, cmd) -> onAcquire(state))
        .onCommand(AcquireDone.class, this::onAcquireDone)
        .onCommand(Stop.class, (state, cmd) -> stopBeforeElected());
    b.forState(s -> tenure.phase == Tenure.Phase.ELECTING)
        .onCommand(Stop.class, (state, cmd) -> stopBeforeElected());
    b.forState(s -> tenure.phase == Tenure.Phase.LEADING)
        .onCommand(Renew.class, (state, cmd) -> onRenew())
        .onCommand(Announce.class, (state, cmd) -> onAnnounce(state))
        .onCommand(PutSetting.class, this::onPutSetting)
        .onCommand(DeleteSetting.class, this::onDeleteSetting)
        .onCommand(Stop.class, (state, cmd) -> handOver());
    b.forState(s -> tenure.phase == Tenure.Phase.HANDING_OVER)
        .onCommand(OfferAnswered.class, (state, cmd) -> onOfferAnswered(cmd))
        .onCommand(ServicesStopped.class, (state, cmd) -> onServicesStopped(cmd));
    b.forState(s -> tenure.phase == Tenure.Phase.STOPPING)
        .onCommand(Acquire.class, (state, cmd) -> Effect().stop().thenNoReply())
        .onCommand(AcquireDone.class, (state, cmd) -> onAcquireDoneWhileStopping(cmd))
        .onCommand(ServicesStopped.class, (state, cmd) -> Effect().stop().thenNoReply());
    b.forAnyState()
        .onCommand(RenewDone.class, (state, cmd) -> onRenewDone(cmd))
        .onCommand(FenceReleased.class, (state, cmd) -> Effect().stop().thenNoReply())
        .onCommand(GetStatus.class, this::onGetStatus)
        .onCommand(GetSettings.class, (state, cmd) ->
            Effect().reply(cmd.replyTo(), new SettingsSnapshot(state.settingsVersion(), state.settings())))
        .onCommand(PutSetting.class, (state, cmd) -> Effect().reply(cmd.replyTo(), notLeader()))
        .onCommand(DeleteSetting.class, (state, cmd) -> Effect().reply(cmd.replyTo(), notLeader()))
        .onCommand(cmd -> true, (state, cmd) -> Effect().noReply()); // not onAnyCommand: it builds this set alone
    return b.build();
  }

  // --- ACQUIRING: taking the fence ---

  private ReplyEffect<LeaderEvent, LeaderState> onAcquire(LeaderState state) {
    if (tenure.fenceRequested) {
      return Effect().noReply();
    }
    tenure.fenceRequested = true;
    tenure.seenAtRequest = node.highestEpochSeen();
    ctx.pipeToSelf(deps.fence().acquire(tenure.holder, Math.max(state.epoch(), tenure.seenAtRequest)),
        Leader::acquireDone);
    return Effect().noReply();
  }

  private ReplyEffect<LeaderEvent, LeaderState> onAcquireDone(LeaderState state, AcquireDone done) {
    tenure.fenceRequested = false;
    FenceClient.Acquired r = done.result();
    if (r.lease().isEmpty()) {
      logWait(r);
      if (r.heldBy() != null && cutOff(r.heldBy())) {
        return Effect().noReply();
      }
      timers.startSingleTimer(Acquire.INSTANCE, nextAttempt(r.heldBy(), deps.settings().renewInterval()));
      return Effect().noReply();
    }
    Fence.Lease taken = r.lease().get(); // as taken: the early keeper's newest renewal no longer says what was before
    FenceClient.Keeper early = adopt(r);
    Fence.Lease lease = tenure.lease;
    long seen = tenure.seenAtRequest;
    if (taken.priorEpoch() >= 0 && taken.priorEpoch() < seen) {
      ctx.getLog().error("STORE WENT BACK IN TIME: the fence was at epoch {}, but this cluster already saw epoch {} "
          + "(a standby promoted without the last commits?); {} took epoch {}, above both, so that no epoch is "
          + "handed out twice. Acknowledged writes after epoch {} may be missing from the store.",
          taken.priorEpoch(), seen, node.nodeId(), lease.epoch(), taken.priorEpoch());
    }
    if (lease.epoch() <= state.epoch()) {
      // the fence row is behind the journal (it was reset): give this epoch back and take one above the journal's
      ctx.getLog().warn("LEADER on {}: the fence's epoch {} is not above the journal's {}; taking a higher one",
          node.nodeId(), lease.epoch(), state.epoch());
      tenure.closeEarly(node); // an early answer may show that epoch: take it back, no more
      tenure.stopKeeper();
      tenure.lease = null;
      tenure.fenceRequested = true;
      long atLeast = state.epoch();
      ctx.pipeToSelf(deps.fence().release(lease).thenCompose(v -> deps.fence().acquire(tenure.holder, atLeast)),
          Leader::acquireDone);
      return Effect().noReply();
    }
    LeaderElected elected = new LeaderElected(lease.epoch(), node.nodeId(), Instant.now());
    // The fence is this node's, for an epoch above every one in the journal: its node answers the leader check
    // from now on, each 200 bounded by the lease (the fence, not the journal, is what rules out two leaders). The
    // journal write below only records the epoch, so the no-leader gap of a hand-over does not wait for it; the
    // services, the announcement and settings writes do. A write that fails stops this actor, and endOfLife takes
    // the 200 back.
    node.leadershipGained(lease.epoch(), elected.at(), lease.actUntilNanos(deps.settings().safetyMargin()));
    if (early == null) {
      startKeeper(lease);
    }
    timers.startTimerAtFixedRate(Renew.INSTANCE, deps.settings().renewInterval());
    tenure.phase = Tenure.Phase.ELECTING;
    LeaderReleased before = releasedBefore(state, taken);
    return Effect()
        .persist(before == null ? List.of(elected) : List.of(before, elected))
        .thenRun(s -> becameLeader(s, lease))
        .thenNoReply();
  }

  /**
   * The last leader's hand-over as the fence recorded it ({@link Fence.Lease#priorRelease}), when the journal's
   * last election is that epoch's and has no release yet: the next leader journals it, so that the old one could
   * let go without a write. Null otherwise: that epoch ran out or was lost, or its release carries no reason (a
   * release that was not a hand-over).
   */
  static LeaderReleased releasedBefore(LeaderState state, Fence.Lease taken) {
    Fence.Release r = taken.priorRelease();
    if (r == null || r.reason().isEmpty() || state.released() || state.epoch() != taken.priorEpoch()
        || !r.holder().startsWith(state.nodeId() + "/")) {
      return null;
    }
    return new LeaderReleased(state.epoch(), state.nodeId(), Instant.ofEpochMilli(r.atMillis()), r.reason());
  }

  /**
   * When to try for the fence again: one renew interval later, or just after the holder's lease runs out if that
   * is sooner. After a crash the new leader waits out the dead one's lease, and retrying on the interval alone
   * added up to one interval (125 ms by default) to every crash failover.
   */
  static java.time.Duration nextAttempt(Fence.State heldBy, java.time.Duration interval) {
    if (heldBy == null || heldBy.released() || heldBy.remainingMillis() >= interval.toMillis()) {
      return interval;
    }
    return java.time.Duration.ofMillis(Math.max(0, heldBy.remainingMillis()) + 2);
  }

  /**
   * Takes {@code r}'s lease as this tenure's. The fence taken at start has been kept since (Tenure.answerEarly):
   * its keeper, returned, and the newest lease it renewed are adopted.
   */
  private FenceClient.Keeper adopt(FenceClient.Acquired r) {
    FenceClient.Keeper early = tenure.adoptEarlyKeeper();
    if (early != null) {
      tenure.stopKeeper();
      tenure.keeper = early;
    }
    tenure.lease = early != null ? early.latest() : r.lease().get();
    tenure.cutOff.reset();
    tenure.lastWait = "";
    return early;
  }

  private void logWait(FenceClient.Acquired r) {
    String wait = r.error() != null
        ? "the store does not answer (" + r.error() + ")"
        : "the fence is held by " + r.heldBy().holder() + " for epoch " + r.heldBy().epoch() + ", "
            + Math.max(0, r.heldBy().remainingMillis()) + " ms left";
    String kind = r.error() != null ? "store" : r.heldBy().holder() + "/" + r.heldBy().epoch();
    if (!kind.equals(tenure.lastWait)) {
      ctx.getLog().info("LEADER waiting on {}: {}", node.nodeId(), wait);
      tenure.lastWait = kind;
    }
  }

  /** True (and the node is shutting down to rejoin) once this node is cut off (see {@link CutOffWatch}). */
  private boolean cutOff(Fence.State held) {
    var reason = tenure.cutOff.observe(node, held, System.nanoTime());
    if (reason.isEmpty()) {
      return false;
    }
    ctx.getLog().error("CUT OFF: {}: this node leaves and exits 4 so that its supervisor restarts it and it joins "
        + "the others", reason.get());
    org.apache.pekko.actor.CoordinatedShutdown.get(ctx.getSystem()).runAll(Guardian.CutOff.INSTANCE);
    return true;
  }

  // --- ELECTING -> LEADING ---

  private void becameLeader(LeaderState s, Fence.Lease lease) {
    if (tenure.lease != lease || tenure.phase != Tenure.Phase.ELECTING) {
      return; // stepped down or stopping while the event was written
    }
    tenure.phase = Tenure.Phase.LEADING;
    ctx.getLog().info("LEADER elected: node {} leads with epoch {}", node.nodeId(), s.epoch());
    publish(new SettingsSnapshot(s.settingsVersion(), s.settings()));
    publish(new Announcement(node.nodeId(), s.epoch(), s.since(), s.settingsVersion()));
    timers.startTimerWithFixedDelay(Announce.INSTANCE, deps.settings().announceInterval());
    deps.services().startAll(node.nodeId(), s.epoch(), new ActingRight(node::mayAct, node::actUntilNanos));
    deps.hook().roleChanged("leader", s.epoch());
  }

  // --- LEADING: keeping the lease ---

  /** The watchdog: steps down once this node's right to act has run out (the keeper renews it). */
  private ReplyEffect<LeaderEvent, LeaderState> onRenew() {
    if (!node.mayAct()) {
      stepDown("the lease ran out before it could be renewed");
    }
    return Effect().noReply();
  }

  /** What the keeper saw, in any phase that holds a lease. */
  private ReplyEffect<LeaderEvent, LeaderState> onRenewDone(RenewDone done) {
    if (tenure.lease == null || tenure.lease.epoch() != done.epoch()) {
      return Effect().noReply(); // news from the keeper of a lease this actor no longer holds
    }
    if (done.error() != null) {
      if (!"renew".equals(tenure.lastWait)) {
        ctx.getLog().warn("LEADER cannot renew its lease on {}: {}", node.nodeId(), done.error());
        tenure.lastWait = "renew";
      }
      if (tenure.phase == Tenure.Phase.LEADING && !node.mayAct()) {
        stepDown("the store did not answer before the lease ran out");
      }
      return Effect().noReply();
    }
    if (done.lease().isEmpty()) {
      if (!tenure.stopping()) {
        stepDown("the lease was lost (expired or taken over)");
      }
      return Effect().noReply();
    }
    if ("renew".equals(tenure.lastWait)) {
      ctx.getLog().info("LEADER renewed its lease again on {}", node.nodeId());
      tenure.lastWait = "";
    }
    tenure.lease = done.lease().get();
    return Effect().noReply();
  }

  /** Stops leading this epoch; tries to take the fence again (with a new epoch) once the lease can be had. */
  private void stepDown(String why) {
    long epoch = tenure.epoch();
    ctx.getLog().warn("LEADER steps down on {}: {} (epoch {})", node.nodeId(), why, epoch);
    node.leadershipLost();
    timers.cancel(Renew.INSTANCE);
    tenure.stopKeeper();
    timers.cancel(Announce.INSTANCE);
    if (tenure.phase == Tenure.Phase.LEADING) {
      deps.services().stopAll();
      deps.hook().roleChanged("follower", epoch);
    }
    tenure.phase = Tenure.Phase.ACQUIRING;
    tenure.lease = null;
    timers.startSingleTimer(Acquire.INSTANCE, deps.settings().renewInterval());
  }

  private ReplyEffect<LeaderEvent, LeaderState> onAnnounce(LeaderState state) {
    if (node.mayAct()) {
      publish(new Announcement(node.nodeId(), state.epoch(), state.since(), state.settingsVersion()));
    }
    return Effect().noReply();
  }

  /** To every node's {@code Membership}, this node's included: it writes the node's view (settings too). */
  private void publish(News news) {
    deps.topic().tell(Topic.publish(news));
  }

  private ReplyEffect<LeaderEvent, LeaderState> onGetStatus(LeaderState state, GetStatus cmd) {
    return Effect().reply(cmd.replyTo(), new Status(node.nodeId(), state.epoch(), state.since(), tenure.servicesUp()));
  }

  // --- LEADING: settings ---

  private <T> StatusReply<T> notLeader() {
    return StatusReply.error(NOT_LEADER);
  }

  public static final String NOT_LEADER = "the leader is changing; try again";

  private ReplyEffect<LeaderEvent, LeaderState> onPutSetting(LeaderState state, PutSetting cmd) {
    if (!node.mayAct()) {
      return Effect().reply(cmd.replyTo(), notLeader());
    }
    long epoch = tenure.lease.epoch();
    SettingChanged event = new SettingChanged(epoch, cmd.key(), cmd.json(), state.settingsVersion() + 1,
        node.nodeId(), Instant.now());
    return persistSetting(event, cmd.key(), epoch, cmd.replyTo());
  }

  private ReplyEffect<LeaderEvent, LeaderState> onDeleteSetting(LeaderState state, DeleteSetting cmd) {
    if (!node.mayAct()) {
      return Effect().reply(cmd.replyTo(), notLeader());
    }
    long epoch = tenure.lease.epoch();
    if (!state.settings().containsKey(cmd.key())) {
      return Effect().reply(cmd.replyTo(),
          StatusReply.success(new SettingWritten(cmd.key(), state.settingsVersion(), epoch, false)));
    }
    SettingRemoved event = new SettingRemoved(epoch, cmd.key(), state.settingsVersion() + 1, node.nodeId(), Instant.now());
    return persistSetting(event, cmd.key(), epoch, cmd.replyTo());
  }

  /** Writes a settings event (fenced), publishes the new snapshot to every node, then replies. */
  private ReplyEffect<LeaderEvent, LeaderState> persistSetting(LeaderEvent event, String key, long epoch,
      ActorRef<StatusReply<SettingWritten>> replyTo) {
    return Effect()
        .persist(event)
        .thenRun(s -> publish(new SettingsSnapshot(s.settingsVersion(), s.settings())))
        .thenReply(replyTo, s -> StatusReply.success(new SettingWritten(key, s.settingsVersion(), epoch, true)));
  }

  // --- stopping: hand-over (LEADING -> HANDING_OVER -> STOPPING) or before election (-> STOPPING) ---

  /** The singleton's stop message before this node was elected: give back whatever fence it holds, then stop. */
  private ReplyEffect<LeaderEvent, LeaderState> stopBeforeElected() {
    tenure.phase = Tenure.Phase.STOPPING;
    tenure.closeEarly(node); // stop answering 200 before anything else
    timers.cancel(Announce.INSTANCE);
    timers.cancel(Acquire.INSTANCE);
    ctx.getLog().info("LEADER stopping on {} before it was elected", node.nodeId());
    if (tenure.fenceRequested && !node.steppingAside()) {
      return Effect().noReply(); // AcquireDone releases what it got, then stops
    }
    // stepping aside, the request hangs on a store this node cannot reach: the next node must not wait for it (a
    // lease it might still get runs out on its own)
    return tenure.lease != null ? releaseAndStop() : Effect().stop().thenNoReply();
  }

  /** A fence request that was on its way when the stop came: release what it got, then stop. */
  private ReplyEffect<LeaderEvent, LeaderState> onAcquireDoneWhileStopping(AcquireDone done) {
    tenure.fenceRequested = false;
    if (done.result().lease().isEmpty()) {
      return Effect().stop().thenNoReply();
    }
    adopt(done.result());
    return releaseAndStop();
  }

  /** The singleton's stop message while leading: a graceful hand-over. */
  private ReplyEffect<LeaderEvent, LeaderState> handOver() {
    tenure.phase = Tenure.Phase.HANDING_OVER;
    // leaving on SIGTERM, or told to leave by another member (a switchover): the same graceful hand-over
    if (tenure.lease != null && (node.isShuttingDown() || node.selfLeaving())) {
      var cluster = org.apache.pekko.cluster.typed.Cluster.get(ctx.getSystem());
      if (dev.pmmha.runtime.cluster.LeaderPlacement.anotherMayLead(cluster.state().getMembers(), cluster.selfMember())) {
        // the 503s that replace this node's 200s wait for the next leader (see NodeState)
        node.handOverStarted(tenure.lease.epoch(), deps.settings().handOverHoldTail(), deps.settings().handOverHoldMax());
        // the node the singleton goes to hears of the release from the store and asks for the fence at once
        // (only with take-over-on-notice: Successor.NONE means it is off)
        tenure.next = deps.successor() == Successor.NONE ? "" : nextLeader();
        // this node leaves the cluster before the next leader announces itself: it watches the fence instead,
        // once it has released it (beginRelease)
      } else {
        // the whole cluster is stopping: no next leader will come, so neither the hold nor the port drain waits
        ctx.getLog().info("LEADER on {}: every other member is leaving or gone, nobody to hand over to", node.nodeId());
      }
    }
    if (!tenure.next.isEmpty()) {
      // still answering, services running: offer the next node the fence, so that the release can give it straight
      // to that node's tenure (Successor); no answer in time and the release tells it as before
      Fence.Lease lease = heldLease();
      String reason = ReleaseReason.of(node, ctx.getSystem());
      String next = tenure.next;
      tenure.offeredNanos = System.nanoTime();
      ctx.ask(HandOverAccepted.class, deps.topic(), OFFER_TIMEOUT,
          replyTo -> Topic.publish(new HandOverOffer(next, lease.epoch(), lease.holder(), reason, replyTo)),
          (answer, failure) -> answer == null || answer.desk() == null ? new OfferAnswered("", null)
              : new OfferAnswered(answer.holder(), answer.desk()));
      return Effect().noReply();
    }
    return stopForHandOver();
  }

  /** The lease as last renewed: the keeper's newest while it runs, else the one taken. */
  private Fence.Lease heldLease() {
    return tenure.keeper != null ? tenure.keeper.latest() : tenure.lease;
  }

  /** The next node answered this leader's offer of the fence (or did not in time): the hand-over goes on. */
  private ReplyEffect<LeaderEvent, LeaderState> onOfferAnswered(OfferAnswered answer) {
    tenure.handTo = answer.holder();
    tenure.handToDesk = answer.desk();
    ctx.getLog().info("LEADER on {}: {} the offer of the fence in {} ms", node.nodeId(),
        answer.holder().isEmpty() ? tenure.next + " did not take" : tenure.next + " took",
        (System.nanoTime() - tenure.offeredNanos) / 1_000_000);
    return stopForHandOver();
  }

  /** The hand-over proper: stop answering 200, stop the services, then release the fence (onServicesStopped). */
  private ReplyEffect<LeaderEvent, LeaderState> stopForHandOver() {
    tenure.closeEarly(node); // stop answering 200 before anything else
    tenure.handOverNanos = System.nanoTime();
    timers.cancel(Announce.INSTANCE);
    timers.cancel(Acquire.INSTANCE);
    ctx.getLog().info("LEADER handing over: node {} stops its services for epoch {}", node.nodeId(), tenure.epoch());
    // nothing is written here: the fence is released with the reason once the services have stopped, and the
    // next leader journals it (releasedBefore); with no lease, the actor just stops then
    var stopping = deps.services().stopAll();
    if (stopping.isDone()) {
      // no services (or none running): release now, not after a round through this actor's mailbox
      return onServicesStopped(new ServicesStopped(System.nanoTime()));
    }
    // the time is taken when the services have stopped, not when their message is handled
    ctx.pipeToSelf(stopping.handle((ok, failure) -> System.nanoTime()), (at, failure) -> new ServicesStopped(at));
    return Effect().noReply();
  }

  /**
   * The node the singleton goes to next: a switchover's candidate, or else the oldest other member that may lead and
   * is Up as this node sees the cluster (the singleton's rule); "" if none. Only a hint for {@link Successor}, which
   * checks it against its own view: a wrong one costs time, not safety.
   */
  private String nextLeader() {
    var cluster = org.apache.pekko.cluster.typed.Cluster.get(ctx.getSystem());
    return node.switchoverTarget(node.nodeId()).orElseGet(() -> dev.pmmha.runtime.cluster.LeaderPlacement.next(
        cluster.state().getMembers(), cluster.selfMember()).orElse(""));
  }

  /** Reads the fence every 50 ms until it holds a higher epoch than {@code epoch}, or the hold has settled. */
  private static void watchFenceForNextLeader(FenceClient fence, NodeState node, long epoch) {
    if (node.handingOverEpoch() != epoch) {
      return;
    }
    fence.current().whenComplete((state, failure) -> {
      if (state != null && state.epoch() > epoch) {
        node.nextLeaderSeen(state.epoch());
      } else {
        java.util.concurrent.CompletableFuture.delayedExecutor(50, java.util.concurrent.TimeUnit.MILLISECONDS)
            .execute(() -> watchFenceForNextLeader(fence, node, epoch));
      }
    });
  }

  private ReplyEffect<LeaderEvent, LeaderState> onServicesStopped(ServicesStopped stopped) {
    if (tenure.lease == null) {
      return Effect().stop().thenNoReply();
    }
    tenure.servicesStoppedNanos = stopped.atNanos();
    if (tenure.phase != Tenure.Phase.HANDING_OVER) {
      return Effect().noReply();
    }
    // the services have stopped: the fence is released with the reason, then the actor stops
    tenure.phase = Tenure.Phase.STOPPING;
    long epoch = tenure.lease.epoch();
    deps.hook().roleChanged("follower", epoch);
    ctx.getLog().info("LEADER released: node {} hands over epoch {} (services stopped in {} ms from the start of "
        + "the hand-over; the next leader journals the release)", node.nodeId(), epoch,
        (tenure.servicesStoppedNanos - tenure.handOverNanos) / 1_000_000);
    beginRelease(ReleaseReason.of(node, ctx.getSystem()));
    return Effect().noReply();
  }

  private ReplyEffect<LeaderEvent, LeaderState> releaseAndStop() {
    beginRelease("");
    return Effect().noReply();
  }

  /**
   * Releases the fence so that the next leader need not wait for the lease; then this actor stops. A
   * {@code reason} makes the next leader journal the release (a hand-over); "" does not.
   */
  private void beginRelease(String reason) {
    Fence.Lease lease = heldLease();
    timers.cancel(Renew.INSTANCE);
    tenure.stopKeeper();
    long sent = System.nanoTime();
    String next = node.handingOverEpoch() == lease.epoch() ? tenure.next : "";
    // straight to the next node's tenure while its view of the lease (counted from the offer) has time left; else a
    // release with a notice, which it takes the fence on
    boolean handing = !next.isEmpty() && !tenure.handTo.isEmpty()
        && System.nanoTime() - tenure.offeredNanos < deps.settings().handOverOfferLife().toNanos();
    var released = handing ? deps.fence().handOver(lease, reason, tenure.handTo) : deps.fence().release(lease, reason, next);
    if (handing) {
      // told through the cluster as soon as the statement returned (on the release thread), not after this actor's
      // mailbox: the singleton's move, which follows this actor's stop, comes after it
      ActorRef<News> desk = tenure.handToDesk;
      String holder = tenure.handTo;
      released.thenAccept(r -> {
        if (r.handed() != null) {
          desk.tell(new FenceHandedOver(holder, r.handed().epoch(), r.handed().atMillis(), r.handed().leaseMillis()));
        }
      });
    }
    if (node.handingOverEpoch() == lease.epoch()) {
      // the next leader can take the fence only after this: read it from then on, not in the release's way
      released.thenRun(() -> watchFenceForNextLeader(deps.fence(), node, lease.epoch()));
    }
    ctx.pipeToSelf(released, (took, failure) -> {
      if (failure != null) {
        ctx.getLog().warn("Could not release the fence (the next leader waits for the lease): {}", failure.getMessage());
      } else if (tenure.handOverNanos > 0) {
        long now = System.nanoTime();
        ctx.getLog().info("LEADER fence released: epoch {} in {} ms ({} ms of it waiting for the release thread, {} ms "
            + "in the store), {} ms after the hand-over began{}", lease.epoch(), (now - sent) / 1_000_000,
            took.waitedNanos() / 1_000_000, took.storeNanos() / 1_000_000, (now - tenure.handOverNanos) / 1_000_000,
            took.handed() != null ? "; handed to " + next + " with epoch " + took.handed().epoch()
                : next.isEmpty() ? "" : "; " + next + " told it is next");
      }
      return FenceReleased.INSTANCE;
    });
    tenure.lease = null;
  }

  @Override
  public EventHandler<LeaderState, LeaderEvent> eventHandler() {
    return newEventHandlerBuilder().forAnyState().onAnyEvent(LeaderState::apply);
  }
}
