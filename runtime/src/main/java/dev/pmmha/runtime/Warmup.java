package dev.pmmha.runtime;

import dev.pmmha.runtime.leader.FenceClient;
import dev.pmmha.runtime.leader.LeaderEvent;
import dev.pmmha.runtime.leader.LeaderState;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.typed.DeleteEventsCompleted;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.RecoveryFailed;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Readies every node to lead before it has to: the fence connection, the journal's pool and the read and
 * deserialization path of the leader's events are used once at start. Without this the first leadership of a
 * node pays for class loading and pool start-up in the middle of a failover.
 */
final class Warmup {

  private static final Logger log = LoggerFactory.getLogger(Warmup.class);

  private Warmup() {}

  static void run(ActorSystem<?> system, FenceClient fence, String nodeId) {
    long t0 = System.nanoTime();
    CompletableFuture<?> fenceRead = fence.current().toCompletableFuture()
        .thenAccept(s -> log.info("Fence: epoch {} held by {} ({})", s.epoch(), s.holder().isEmpty() ? "nobody" : s.holder(),
            s.free() ? "free" : s.remainingMillis() + " ms left"));
    CompletableFuture<Long> replay = new CompletableFuture<>();
    system.systemActorOf(Behaviors.<ReadOnlyRecovery.Done>setup(ctx -> new ReadOnlyRecovery(ctx.getSelf(), replay)),
        "pmm-ha-warmup-recovery", Props.empty());
    CompletableFuture<Long> write = new CompletableFuture<>();
    system.systemActorOf(Behaviors.<WriteWarmup.Command>setup(ctx -> new WriteWarmup(ctx.getSelf(), nodeId, write)),
        "pmm-ha-warmup-write", Props.empty());
    CompletableFuture<Void> messages = CompletableFuture.runAsync(() -> handOverMessages(system),
        system.executionContext());
    CompletableFuture.allOf(fenceRead, replay, write, messages)
        .orTimeout(Duration.ofSeconds(30).toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)
        .whenComplete((ok, failure) -> {
          if (failure != null) {
            log.warn("Warm-up incomplete (the first leadership of this node may be slower): {}",
                FenceClient.firstLine(failure));
          } else {
            log.info("Ready to lead: store paths warmed in {} ms (the leader's journal recovered in {} ms, "
                + "a first event written in {} ms)", (System.nanoTime() - t0) / 1_000_000, replay.join(), write.join());
          }
        });
  }

  /**
   * A hand-over's offer, its answer and the word that the fence was handed over through the serializer both ways, as they cross the cluster: the first use of a
   * message class costs Jackson about 100 ms, and a node hands over once in its life (SIGTERM), so it would always pay
   * it, while it still answers 200 and the next node waits (an integration run's first offer took 143 ms to answer).
   */
  static void handOverMessages(ActorSystem<?> system) {
    var serialization = org.apache.pekko.serialization.SerializationExtension.get(
        org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system));
    java.util.UUID.randomUUID(); // the offered tenure's holder id: the first one seeds the generator
    ActorRef<dev.pmmha.runtime.leader.Leader.HandOverAccepted> replyTo = system.deadLetters();
    ActorRef<dev.pmmha.runtime.leader.Leader.News> desk = system.deadLetters();
    for (Object m : java.util.List.of(
        new dev.pmmha.runtime.leader.Leader.HandOverOffer("warm-up", 0, "", "", replyTo),
        new dev.pmmha.runtime.leader.Leader.HandOverAccepted("", desk),
        new dev.pmmha.runtime.leader.Leader.FenceHandedOver("warm-up", 1, 0, 0))) {
      var serializer = serialization.findSerializerFor(m);
      byte[] bytes = serialization.serialize(m).get();
      Object back = serialization.deserialize(bytes, serializer.identifier(),
          org.apache.pekko.serialization.Serializers.manifestFor(serializer, m)).get();
      if (!back.getClass().equals(m.getClass())) {
        throw new IllegalStateException("a " + m.getClass().getSimpleName() + " came back as " + back.getClass());
      }
    }
  }

  /** A journal of leader events and the leader's state, as the singleton keeps them. */
  private abstract static class OnLeaderEvents<C> extends EventSourcedBehavior<C, LeaderEvent, LeaderState> {
    OnLeaderEvents(String persistenceId) {
      super(PersistenceId.ofUniqueId(persistenceId));
    }

    @Override
    public LeaderState emptyState() {
      return LeaderState.empty();
    }

    @Override
    public EventHandler<LeaderState, LeaderEvent> eventHandler() {
      return newEventHandlerBuilder().forAnyState().onAnyEvent(LeaderState::apply);
    }
  }

  /**
   * Recovers the leader's journal exactly as the singleton does when this node becomes leader (snapshot load,
   * event replay, highest sequence number, deserialization), then stops. It never persists anything and takes
   * no commands, so it cannot disturb the journal of the running leader; it only pays the cold start (class
   * loading, first queries, serializers) that would otherwise sit in the middle of a hand-over (about 0.5 s).
   */
  private static final class ReadOnlyRecovery extends OnLeaderEvents<ReadOnlyRecovery.Done> {
    enum Done { INSTANCE }

    private final CompletableFuture<Long> recovered;
    private final long startNanos = System.nanoTime();
    private final ActorRef<Done> self;

    ReadOnlyRecovery(ActorRef<Done> self, CompletableFuture<Long> recovered) {
      super(LeaderState.PERSISTENCE_ID);
      this.self = self;
      this.recovered = recovered;
    }

    @Override
    public CommandHandler<Done, LeaderEvent, LeaderState> commandHandler() {
      return newCommandHandlerBuilder().forAnyState().onAnyCommand(done -> Effect().stop());
    }

    @Override
    public SignalHandler<LeaderState> signalHandler() {
      return newSignalHandlerBuilder()
          .onSignal(RecoveryCompleted.instance(), state -> {
            recovered.complete((System.nanoTime() - startNanos) / 1_000_000);
            self.tell(Done.INSTANCE);
          })
          .onSignal(RecoveryFailed.class, (state, failed) -> recovered.completeExceptionally(failed.getFailure()))
          .build();
    }
  }

  /**
   * Writes one event, a snapshot, and deletes what came before, under this node's own persistence id
   * ({@code pmm-ha-warmup-<node>}, untagged, so the fence does not apply): the write path that a new leader
   * uses for its {@code LeaderElected} is then warm too (about 0.1 s of a hand-over otherwise). The journal
   * keeps at most one such event and one snapshot per node.
   */
  private static final class WriteWarmup extends OnLeaderEvents<WriteWarmup.Command> {
    enum Command { WRITE, STOP }

    private final ActorRef<Command> self;
    private final String nodeId;
    private final CompletableFuture<Long> written;

    WriteWarmup(ActorRef<Command> self, String nodeId, CompletableFuture<Long> written) {
      super("pmm-ha-warmup-" + nodeId);
      this.self = self;
      this.nodeId = nodeId;
      this.written = written;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
      return RetentionCriteria.snapshotEvery(1, 1).withDeleteEventsOnSnapshot();
    }

    @Override
    public CommandHandler<Command, LeaderEvent, LeaderState> commandHandler() {
      return newCommandHandlerBuilder().forAnyState().onAnyCommand(cmd -> {
        if (cmd == Command.STOP) {
          return Effect().stop();
        }
        long start = System.nanoTime();
        return Effect().persist(new LeaderEvent.LeaderReleased(0, nodeId, java.time.Instant.now()))
            .thenRun(state -> written.complete((System.nanoTime() - start) / 1_000_000));
      });
    }

    @Override
    public SignalHandler<LeaderState> signalHandler() {
      return newSignalHandlerBuilder()
          .onSignal(RecoveryCompleted.instance(), state -> self.tell(Command.WRITE))
          .onSignal(RecoveryFailed.class, (state, failed) -> written.completeExceptionally(failed.getFailure()))
          // the snapshot is written and the event before it deleted: nothing left to warm
          .onSignal(DeleteEventsCompleted.class, (state, done) -> self.tell(Command.STOP))
          .build();
    }
  }
}
