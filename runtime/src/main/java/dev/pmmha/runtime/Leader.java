package dev.pmmha.runtime;

import dev.pmmha.persistence.CborSerializable;
import dev.pmmha.persistence.LeaderEvent;
import dev.pmmha.persistence.LeaderEvent.LeaderElected;
import dev.pmmha.persistence.LeaderEvent.LeaderReleased;
import dev.pmmha.persistence.LeaderHistory;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The PMM leader: a Cluster Singleton, so the node that runs it is the leader. On start it recovers the leader
 * history from the journal and persists {@link LeaderElected} with the next epoch; only after that write does
 * its node answer the leader health check with 200. On the singleton's stop message (hand-over, graceful leave)
 * its node stops answering 200 first, then {@link LeaderReleased} is persisted and the actor stops.
 *
 * <p>What survives a restart or a hand-over: the epoch history, in the journal. Nothing else. Replies go to the
 * {@code replyTo} of {@link GetStatus}; announcements go to every node through the leader topic.
 */
public final class Leader
    extends EventSourcedBehaviorWithEnforcedReplies<Leader.Command, LeaderEvent, LeaderHistory> {

  public sealed interface Command extends CborSerializable {}

  public record GetStatus(ActorRef<Status> replyTo) implements Command {}

  /** The leader's view: {@code elected} is false until the epoch is persisted. */
  public record Status(String nodeId, long epoch, Instant since, boolean elected) implements CborSerializable {}

  /** The singleton's stop message: hand leadership over gracefully. */
  public enum Stop implements Command {
    INSTANCE
  }

  private enum Elect implements Command {
    INSTANCE
  }

  private enum Announce implements Command {
    INSTANCE
  }

  /** Sent on the leader topic when elected and every {@code announce-interval} after. */
  public record Announcement(String nodeId, long epoch, Instant since) implements CborSerializable {}

  public static final String TOPIC = "pmm-ha-leader";
  static final String SINGLETON_NAME = "pmm-leader";

  public static Behavior<Command> create(
      NodeState node, ActorRef<Topic.Command<Announcement>> topic, Duration announceInterval) {
    // The flag lives outside the supervised behavior: a restart after a failed write during hand-over must not
    // elect this node again.
    AtomicBoolean stopping = new AtomicBoolean(false);
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      Behavior<Command> leader = new Leader(ctx, timers, node, topic, announceInterval, stopping);
      return leader;
    }));
  }

  private final ActorContext<Command> ctx;
  private final TimerScheduler<Command> timers;
  private final NodeState node;
  private final ActorRef<Topic.Command<Announcement>> topic;
  private final Duration announceInterval;
  private final AtomicBoolean stopping;

  private Leader(
      ActorContext<Command> ctx,
      TimerScheduler<Command> timers,
      NodeState node,
      ActorRef<Topic.Command<Announcement>> topic,
      Duration announceInterval,
      AtomicBoolean stopping) {
    super(
        PersistenceId.ofUniqueId(LeaderHistory.PERSISTENCE_ID),
        SupervisorStrategy.restartWithBackoff(Duration.ofMillis(200), Duration.ofSeconds(5), 0.2));
    this.ctx = ctx;
    this.timers = timers;
    this.node = node;
    this.topic = topic;
    this.announceInterval = announceInterval;
    this.stopping = stopping;
  }

  @Override
  public LeaderHistory emptyState() {
    return LeaderHistory.empty();
  }

  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.snapshotEvery(100, 2);
  }

  @Override
  public SignalHandler<LeaderHistory> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> {
          ctx.getLog().info("Leader singleton recovered on {}: last epoch {} held by {}",
              node.nodeId(), state.epoch(), state.nodeId().isEmpty() ? "nobody" : state.nodeId());
          ctx.getSelf().tell(Elect.INSTANCE);
        })
        .onSignal(org.apache.pekko.actor.typed.PostStop.instance(), state -> node.leadershipLost())
        .build();
  }

  @Override
  public CommandHandlerWithReply<Command, LeaderEvent, LeaderHistory> commandHandler() {
    return newCommandHandlerWithReplyBuilder()
        .forAnyState()
        .onCommand(Elect.class, (state, cmd) -> onElect(state))
        .onCommand(Announce.class, (state, cmd) -> onAnnounce(state))
        .onCommand(GetStatus.class, this::onGetStatus)
        .onCommand(Stop.class, (state, cmd) -> onStop(state))
        .build();
  }

  private ReplyEffect<LeaderEvent, LeaderHistory> onElect(LeaderHistory state) {
    if (stopping.get()) {
      return Effect().stop().thenNoReply();
    }
    LeaderElected elected = new LeaderElected(state.epoch() + 1, node.nodeId(), Instant.now());
    return Effect()
        .persist(elected)
        .thenRun(s -> {
          node.leadershipGained(s.epoch(), s.since());
          ctx.getLog().info("LEADER elected: node {} leads with epoch {}", node.nodeId(), s.epoch());
          announce(s);
          timers.startTimerWithFixedDelay(Announce.INSTANCE, announceInterval);
        })
        .thenNoReply();
  }

  private ReplyEffect<LeaderEvent, LeaderHistory> onAnnounce(LeaderHistory state) {
    if (!state.released() && state.nodeId().equals(node.nodeId())) {
      announce(state);
    }
    return Effect().noReply();
  }

  private void announce(LeaderHistory s) {
    topic.tell(Topic.publish(new Announcement(s.nodeId(), s.epoch(), s.since())));
  }

  private ReplyEffect<LeaderEvent, LeaderHistory> onGetStatus(LeaderHistory state, GetStatus cmd) {
    boolean elected = !state.released() && state.nodeId().equals(node.nodeId()) && node.ownEpoch() == state.epoch();
    return Effect().reply(cmd.replyTo(), new Status(node.nodeId(), state.epoch(), state.since(), elected));
  }

  private ReplyEffect<LeaderEvent, LeaderHistory> onStop(LeaderHistory state) {
    stopping.set(true);
    timers.cancelAll();
    long epoch = node.ownEpoch();
    node.leadershipLost(); // stop answering 200 before anything else
    if (epoch == 0 || epoch != state.epoch()) {
      ctx.getLog().info("LEADER stopping on {} before it was elected", node.nodeId());
      return Effect().stop().thenNoReply();
    }
    ctx.getLog().info("LEADER releasing: node {} hands over epoch {}", node.nodeId(), epoch);
    return Effect()
        .persist(new LeaderReleased(epoch, node.nodeId(), Instant.now()))
        .thenStop()
        .thenNoReply();
  }

  @Override
  public EventHandler<LeaderHistory, LeaderEvent> eventHandler() {
    return newEventHandlerBuilder().forAnyState().onAnyEvent(LeaderHistory::apply);
  }
}
