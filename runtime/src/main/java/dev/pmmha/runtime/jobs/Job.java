package dev.pmmha.runtime.jobs;

import dev.pmmha.persistence.CborSerializable;
import dev.pmmha.persistence.jobs.JobStore;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityContext;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.SnapshotSelectionCriteria;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.Recovery;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * One job: a sharded, event-sourced entity keyed by the job's id, so that it runs on exactly one node at a time
 * and moves with its shard (rebalance, crash, graceful leave). Its journal holds the definition
 * ({@link JobDefined}, {@link JobRemoved}); its runs live in the claims table, not in the journal.
 *
 * <p>Ticks are the scheduled times {@code phase + k * interval}, with a per-job phase from the id's hash so that
 * many jobs with one interval do not all fire in the same millisecond. Each tick is claimed in the store before the
 * action starts ({@link JobStore#claim}); a tick claimed elsewhere is not run, so a tick runs at most once across
 * crashes, rebalances and partitions. A tick that falls while the previous run is still going is skipped. When the
 * job starts on a node (after a move) it records the unfinished claims of its previous incarnation as lost, skips
 * the ticks it missed, or runs the latest missed one once when the job has {@code catchUp}.
 *
 * <p>On the hand-off stop message ({@link Stop}) a run in progress finishes and is recorded before the entity
 * stops, so a graceful move loses no claimed tick. What survives a restart or a move: the definition (journal) and
 * every claim (store). Replies go to each request's {@code replyTo}.
 */
public final class Job extends EventSourcedBehaviorWithEnforcedReplies<Job.Command, Job.Event, Job.State> {

  public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "pmm-ha-job");

  /**
   * The persisted definition; durations in milliseconds. Exactly one of {@code command} and {@code action}; ticks
   * every {@code intervalMs}, or at the times of {@code cron} in {@code timezone} when {@code cron} is set
   * ({@code intervalMs} is 0 then; definitions persisted before cron existed have no cron).
   */
  public record Spec(long intervalMs, List<String> command, String action, long timeoutMs, boolean catchUp,
      String cron, String timezone) implements CborSerializable {

    /** The next tick strictly after {@code afterMs}: for an interval job, {@code phase + k * interval}. */
    public long tickAfter(String jobId, long afterMs) {
      return cron != null ? schedule().next(afterMs) : Job.tickAfter(afterMs, intervalMs, phase(jobId, intervalMs));
    }

    /** The latest tick at or before {@code atMs}; {@code fromMs}, an earlier tick, bounds a cron job's search. */
    long tickAtOrBefore(String jobId, long atMs, long fromMs) {
      return cron != null ? schedule().latestAtOrBefore(atMs, fromMs)
          : Job.tickAtOrBefore(atMs, intervalMs, phase(jobId, intervalMs));
    }

    /** The time from {@code tickMs} to the tick after it. */
    long gapAfter(String jobId, long tickMs) {
      return cron != null ? schedule().next(tickMs) - tickMs : intervalMs;
    }

    String describe() {
      return cron != null ? "cron \"" + cron + "\"" + (timezone == null || timezone.equals("UTC") ? "" : " in "
          + timezone) : "every " + intervalMs + " ms";
    }

    private Cron schedule() {
      String key = timezone + " " + cron;
      Cron parsed = CRONS.get(key);
      if (parsed == null) {
        if (CRONS.size() > 1_000) {
          CRONS.clear();
        }
        parsed = Cron.parse(cron, timezone);
        CRONS.put(key, parsed);
      }
      return parsed;
    }
  }

  /** Parsed cron schedules by zone and expression (a handful in practice; bounded anyway). */
  private static final java.util.Map<String, Cron> CRONS = new java.util.concurrent.ConcurrentHashMap<>();

  public sealed interface Command extends CborSerializable {}

  /** Creates or replaces the definition; replied once it is persisted and in the registry. */
  public record Define(Spec spec, ActorRef<StatusReply<Defined>> replyTo) implements Command {}

  public record Defined(String jobId, Spec spec, String node) implements CborSerializable {}

  /** Stops the job for good and removes it from the registry. */
  public record Remove(ActorRef<StatusReply<Removed>> replyTo) implements Command {}

  public record Removed(String jobId, boolean existed) implements CborSerializable {}

  /** Sent by the keeper: starting the entity is the point; a running job ignores it. */
  public enum Wake implements Command {
    INSTANCE
  }

  /** The hand-off (and passivation) stop message: finish the run in progress, then stop. */
  public enum Stop implements Command {
    INSTANCE
  }

  private record Started(List<Long> lost, Optional<JobStore.Run> lastRun) implements Command {}

  private record StartFailed(String error) implements Command {}

  private enum Begin implements Command {
    INSTANCE
  }

  private enum IdleCheck implements Command {
    INSTANCE
  }

  private record Due(long tickMs) implements Command {}

  private record ClaimDone(long tickMs, long startedMs, JobStore.Claim claim, String error) implements Command {}

  private record RunDone(long tickMs, long startedMs, JobRunner.Outcome outcome) implements Command {}

  private record Finished(long tickMs) implements Command {}

  private record DefinitionSaved(Spec spec, ActorRef<StatusReply<Defined>> replyTo, String error) implements Command {}

  private record RemovalDone(boolean existed, ActorRef<StatusReply<Removed>> replyTo, String error)
      implements Command {}

  public sealed interface Event extends CborSerializable {}

  public record JobDefined(Spec spec, Instant at, String node) implements Event {}

  public record JobRemoved(Instant at, String node) implements Event {}

  /** {@code spec} is null before the first definition and after removal. */
  public record State(Spec spec, boolean removed) implements CborSerializable {
    public static State empty() {
      return new State(null, false);
    }
  }

  /** What every job on a node works with. */
  record Deps(String nodeId, JobStore store, JobRunner runner, JobMetrics metrics, JobSettings settings,
      java.util.function.Function<String, java.util.OptionalLong> lostAt) {}

  /** {@code <shard>|<job id>}: the shard is chosen when the job is registered (see {@link JobStore#register}). */
  static String entityId(int shard, String jobId) {
    return shard + "|" + jobId;
  }

  static String shardOf(String entityId) {
    int bar = entityId.indexOf('|');
    return bar < 0 ? "0" : entityId.substring(0, bar);
  }

  static String jobIdOf(String entityId) {
    return entityId.substring(entityId.indexOf('|') + 1);
  }

  /** The first tick strictly after {@code afterMs}. */
  public static long tickAfter(long afterMs, long intervalMs, long phaseMs) {
    return (Math.floorDiv(afterMs - phaseMs, intervalMs) + 1) * intervalMs + phaseMs;
  }

  /** The latest tick at or before {@code atMs}. */
  static long tickAtOrBefore(long atMs, long intervalMs, long phaseMs) {
    return Math.floorDiv(atMs - phaseMs, intervalMs) * intervalMs + phaseMs;
  }

  public static long phase(String jobId, long intervalMs) {
    int h = jobId.hashCode();
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return Math.floorMod(h, intervalMs);
  }

  public static Behavior<Command> create(EntityContext<Command> entity, Deps deps) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Job(ctx, timers, entity, deps)));
  }

  private final ActorContext<Command> ctx;
  private final TimerScheduler<Command> timers;
  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final Deps deps;
  private final String jobId;
  private final int shardNumber;
  private final String incarnation = UUID.randomUUID().toString();
  private final String label;
  private final long createdNanos = System.nanoTime();
  private long beginNanos;

  // this incarnation's schedule (not persisted)
  private Spec scheduled;
  private boolean started;
  private boolean starting;
  /** The end of the answer to a definition that reaches an entity being stopped: nothing was written. */
  static final String MOVING = " is moving; try again";

  private boolean stopping;
  private boolean running;
  /** Registry writes (definition saved, row removed) whose reply is still owed: the entity stops only after them. */
  private int pendingWrites;
  /** The shard's stop message came (hand-off or passivation): stop as soon as nothing is owed. */
  private boolean stoppedByShard;
  private long lastTickMs = Long.MIN_VALUE;
  // when the job reached this node (its entity was created here, or a new job was defined): the registry's
  // node_since. Ticks after it are this node's to run, even those that fall while the job is still starting.
  private long arrivedMs = System.currentTimeMillis();
  // a tick that fell while the job was starting, to run after the catch-up run that goes first
  private long pendingLateMs = Long.MIN_VALUE;
  private int runsSincePrune;

  private Job(ActorContext<Command> ctx, TimerScheduler<Command> timers, EntityContext<Command> entity, Deps deps) {
    super(PersistenceId.of(TYPE_KEY.name(), jobIdOf(entity.getEntityId())),
        SupervisorStrategy.restartWithBackoff(Duration.ofMillis(500), Duration.ofSeconds(10), 0.2));
    this.ctx = ctx;
    this.timers = timers;
    this.shard = entity.getShard();
    this.deps = deps;
    this.jobId = jobIdOf(entity.getEntityId());
    this.shardNumber = Integer.parseInt(shardOf(entity.getEntityId()));
    this.label = deps.nodeId() + " job " + jobId;
  }

  @Override
  public State emptyState() {
    return State.empty();
  }

  @Override
  public Recovery recovery() {
    // One event per PUT or DELETE: replaying is one query; a snapshot lookup would double the queries of the many
    // jobs that start at once after a node died (docs/decisions/jobs-recovery-from-events.md).
    return Recovery.withSnapshotSelectionCriteria(SnapshotSelectionCriteria.none());
  }

  @Override
  public EventHandler<State, Event> eventHandler() {
    return newEventHandlerBuilder()
        .forAnyState()
        .onEvent(JobDefined.class, (state, e) -> new State(e.spec(), false))
        .onEvent(JobRemoved.class, (state, e) -> new State(null, true))
        .build();
  }

  @Override
  public SignalHandler<State> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> {
          deps.metrics().recovered(System.nanoTime() - createdNanos);
          if (state.spec() != null) {
            ctx.getSelf().tell(Begin.INSTANCE);
          } else if (state.removed()) {
            // removed, but the registry row may have outlived it (the store failed after the event): drop it
            deps.store().async(s -> s.remove(jobId));
            passivate();
          } else {
            // a new job whose definition is on its way, or a keeper's wake-up for a job that no longer exists
            timers.startSingleTimer(IdleCheck.INSTANCE, Duration.ofSeconds(5));
          }
        })
        .onSignal(PostStop.instance(), state -> ended())
        .onSignal(PreRestart.instance(), state -> ended())
        .build();
  }

  @Override
  public CommandHandlerWithReply<Command, Event, State> commandHandler() {
    return newCommandHandlerWithReplyBuilder()
        .forAnyState()
        .onCommand(Define.class, this::onDefine)
        .onCommand(DefinitionSaved.class, this::onDefinitionSaved)
        .onCommand(Remove.class, this::onRemove)
        .onCommand(RemovalDone.class, this::onRemovalDone)
        .onCommand(Wake.class, (state, cmd) -> Effect().noReply())
        .onCommand(IdleCheck.class, (state, cmd) -> {
          if (state.spec() == null) {
            passivate();
          }
          return Effect().noReply();
        })
        .onCommand(Begin.class, (state, cmd) -> onBegin(state))
        .onCommand(Started.class, this::onStarted)
        .onCommand(StartFailed.class, (state, cmd) -> {
          starting = false;
          ctx.getLog().warn("Job {} cannot start on {}: {}; retrying in 2 s", jobId, deps.nodeId(), cmd.error());
          timers.startSingleTimer(Begin.INSTANCE, Duration.ofSeconds(2));
          return Effect().noReply();
        })
        .onCommand(Due.class, this::onDue)
        .onCommand(ClaimDone.class, this::onClaimDone)
        .onCommand(RunDone.class, this::onRunDone)
        .onCommand(Finished.class, (state, cmd) -> onFinished())
        .onCommand(Stop.class, (state, cmd) -> onStop())
        .build();
  }

  /** This incarnation ends (stop, or a restart after a journal failure). */
  private void ended() {
    if (started) {
      deps.metrics().jobStopped();
      started = false;
    }
  }

  // --- definition ---

  private ReplyEffect<Event, State> onDefine(State state, Define cmd) {
    if (stopping) {
      return Effect().reply(cmd.replyTo(), StatusReply.error("job " + jobId + MOVING));
    }
    if (!started && !starting) {
      arrivedMs = System.currentTimeMillis(); // a new job: its ticks start now, not when its entity was created
    }
    return Effect().persist(new JobDefined(cmd.spec(), Instant.now(), deps.nodeId()))
        .thenRun(s -> saveDefinition(cmd.spec(), cmd.replyTo()))
        .thenNoReply();
  }

  private void saveDefinition(Spec spec, ActorRef<StatusReply<Defined>> replyTo) {
    String json = JobView.specJson(spec);
    pendingWrites++;
    ctx.pipeToSelf(deps.store().background(s -> {
      s.saveDefinition(jobId, shardNumber, json, deps.nodeId(), System.currentTimeMillis());
      return true;
    }), (ok, failure) -> new DefinitionSaved(spec, replyTo, failure == null ? null : JobView.describe(failure)));
  }

  private ReplyEffect<Event, State> onDefinitionSaved(State state, DefinitionSaved cmd) {
    pendingWrites--;
    if (cmd.error() != null) {
      ctx.getLog().warn("Job {}: definition persisted, registry not updated: {}", jobId, cmd.error());
      return Effect().reply(cmd.replyTo(), StatusReply.error("the job was saved but the registry was not updated ("
          + cmd.error() + "); repeat the request"));
    }
    ctx.getLog().info("Job {} defined on {}: {}, {}", jobId, deps.nodeId(), cmd.spec().describe(),
        cmd.spec().command() != null ? "command " + cmd.spec().command() : "action " + cmd.spec().action());
    StatusReply<Defined> defined = StatusReply.success(new Defined(jobId, cmd.spec(), deps.nodeId()));
    if (stopping) {
      // stopped while the registry was written: the next incarnation schedules the job from its journal
      return mayStopNow() ? Effect().stop().thenReply(cmd.replyTo(), s -> defined)
          : Effect().reply(cmd.replyTo(), defined);
    }
    if (started) {
      reschedule(state.spec());
    } else {
      ctx.getSelf().tell(Begin.INSTANCE);
    }
    return Effect().reply(cmd.replyTo(), defined);
  }

  private ReplyEffect<Event, State> onRemove(State state, Remove cmd) {
    boolean existed = state.spec() != null;
    if (!existed) {
      pendingWrites++;
      ctx.pipeToSelf(deps.store().async(s -> s.remove(jobId)),
          (ok, failure) -> new RemovalDone(false, cmd.replyTo(), failure == null ? null : JobView.describe(failure)));
      return Effect().noReply();
    }
    return Effect().persist(new JobRemoved(Instant.now(), deps.nodeId()))
        .thenRun(s -> {
          timers.cancel(Due.class);
          scheduled = null;
          pendingWrites++;
          ctx.pipeToSelf(deps.store().async(st -> st.remove(jobId)),
              (ok, failure) -> new RemovalDone(true, cmd.replyTo(), failure == null ? null : JobView.describe(failure)));
        })
        .thenNoReply();
  }

  private ReplyEffect<Event, State> onRemovalDone(State state, RemovalDone cmd) {
    pendingWrites--;
    if (cmd.error() != null) {
      ctx.getLog().warn("Job {}: removal persisted, registry row not deleted: {}", jobId, cmd.error());
      return Effect().reply(cmd.replyTo(), StatusReply.error("the job was stopped but its registry row could not be "
          + "deleted (" + cmd.error() + "); repeat the request"));
    }
    if (cmd.existed()) {
      ctx.getLog().info("Job {} removed on {}", jobId, deps.nodeId());
    }
    passivate();
    StatusReply<Removed> removed = StatusReply.success(new Removed(jobId, cmd.existed()));
    return mayStopNow() ? Effect().stop().thenReply(cmd.replyTo(), s -> removed)
        : Effect().reply(cmd.replyTo(), removed);
  }

  // --- starting on this node ---

  private ReplyEffect<Event, State> onBegin(State state) {
    if (started || starting || stopping || state.spec() == null) {
      return Effect().noReply();
    }
    starting = true;
    String json = JobView.specJson(state.spec());
    beginNanos = System.nanoTime();
    // batched with the other jobs starting on this node at the same time (after a move: thousands)
    ctx.pipeToSelf(deps.store().start(new JobStore.Start(jobId, shardNumber, json, deps.nodeId(), incarnation,
            arrivedMs, System.currentTimeMillis())),
        (t, failure) -> failure == null ? new Started(t.lost(), t.lastRun())
            : new StartFailed(JobView.describe(failure)));
    return Effect().noReply();
  }

  private ReplyEffect<Event, State> onStarted(State state, Started cmd) {
    starting = false;
    deps.metrics().tookOver(System.nanoTime() - beginNanos);
    if (stopping || state.spec() == null) {
      return Effect().noReply();
    }
    started = true;
    deps.metrics().jobStarted();
    Spec spec = state.spec();
    long now = System.currentTimeMillis();
    for (long tick : cmd.lost()) {
      ctx.getLog().warn("Job {}: tick {} was claimed by an earlier run that never finished (its node died or was cut "
          + "off); recorded as lost, not run again", jobId, Instant.ofEpochMilli(tick));
      deps.metrics().lostTick();
    }
    Optional<JobStore.Run> last = cmd.lastRun();
    last.ifPresent(r -> lastTickMs = Math.max(lastTickMs, r.tickMs()));
    if (last.isPresent() && !last.get().node().equals(deps.nodeId())) {
      // how long past its next tick the job was without a home: the time its move took beyond one interval
      long late = now - spec.tickAfter(jobId, last.get().tickMs());
      deps.metrics().moved(Math.max(0, late));
    }
    ctx.getLog().info("Job {} started on {} (shard {}){}", jobId, deps.nodeId(), shardNumber,
        last.map(r -> ", last tick " + Instant.ofEpochMilli(r.tickMs()) + " on " + r.node()).orElse(""));
    scheduled = spec;
    // The cluster owns a job's ticks again from the moment it lost the job's previous node (the start of the
    // unreachability that ended in its downing), or, for a graceful move, a new job, or a restart, from the job's
    // arrival here. Owning a tick is not running it: the claim still decides that.
    long ownedFrom = arrivedMs;
    if (last.isPresent() && !last.get().node().equals(deps.nodeId())) {
      java.util.OptionalLong lost = deps.lostAt().apply(last.get().node());
      if (lost.isPresent() && lost.getAsLong() > last.get().tickMs()) {
        ownedFrom = Math.min(ownedFrom, lost.getAsLong());
      }
    }
    long[] first = firstTicks(spec, jobId, last.map(JobStore.Run::tickMs), lastTickMs, ownedFrom, now);
    long missed = first[0];
    long late = first[1];
    boolean runLate = late != Long.MIN_VALUE;
    if (missed != Long.MIN_VALUE) {
      long count = spec.cron() != null ? countTicks(spec, last.get().tickMs(), missed)
          : (missed - last.get().tickMs()) / spec.intervalMs();
      ctx.getLog().info("Job {}: catching up tick {} once ({} tick(s) missed during the move)", jobId,
          Instant.ofEpochMilli(missed), count);
      pendingLateMs = late;
      ctx.getSelf().tell(new Due(missed));
      return Effect().noReply();
    }
    if (runLate) {
      ctx.getLog().info("Job {}: tick {} fell while it was starting here; running it now, {} ms late", jobId,
          Instant.ofEpochMilli(late), now - late);
      ctx.getSelf().tell(new Due(late));
      return Effect().noReply();
    }
    scheduleAfter(now);
    return Effect().noReply();
  }

  /**
   * The ticks a job that starts on a node at {@code nowMs} runs at once, as {@code [missed, late]}, each
   * {@code Long.MIN_VALUE} for none. Ticks at or after {@code ownedFromMs} (the cluster lost the job's previous
   * node, or the job arrived here) fell while the job was on its way or starting: the latest of them is late, not
   * missed, and runs now. Ticks before it were missed during the move: skipped, or with {@code catchUp} the
   * latest of them runs once (first). {@code lastRunTick}: the job's newest claimed tick anywhere;
   * {@code lastLocalTick}: the newest this incarnation handled.
   */
  static long[] firstTicks(Spec spec, String jobId, Optional<Long> lastRunTick, long lastLocalTick, long ownedFromMs,
      long nowMs) {
    long lastTick = Math.max(lastLocalTick, lastRunTick.orElse(Long.MIN_VALUE));
    long late = spec.tickAtOrBefore(jobId, nowMs, ownedFromMs - 1);
    long missed = Long.MIN_VALUE;
    if (spec.catchUp() && lastRunTick.isPresent()) {
      long m = spec.tickAtOrBefore(jobId, ownedFromMs - 1, lastRunTick.get());
      if (m > lastTick) {
        missed = m;
      }
    }
    return new long[] {missed, late >= ownedFromMs && late > lastTick ? late : Long.MIN_VALUE};
  }

  /** The ticks after {@code fromMs} up to and including {@code toMs}. */
  private long countTicks(Spec spec, long fromMs, long toMs) {
    long n = 0;
    for (long t = spec.tickAfter(jobId, fromMs); t <= toMs; t = spec.tickAfter(jobId, t)) {
      n++;
    }
    return n;
  }

  private void reschedule(Spec spec) {
    scheduled = spec;
    timers.cancel(Due.class);
    scheduleAfter(Math.max(System.currentTimeMillis(), lastTickMs));
  }

  private void scheduleAfter(long afterMs) {
    Spec spec = scheduled;
    if (spec == null || stopping) {
      return;
    }
    long next = spec.tickAfter(jobId, Math.max(afterMs, lastTickMs));
    timers.startSingleTimer(Due.class, new Due(next), Duration.ofMillis(Math.max(0, next - System.currentTimeMillis())));
  }

  // --- ticks ---

  private ReplyEffect<Event, State> onDue(State state, Due due) {
    if (!started || stopping || scheduled == null || due.tickMs() <= lastTickMs) {
      return Effect().noReply();
    }
    long now = System.currentTimeMillis();
    if (now < due.tickMs()) { // the timer fired early: wait for the tick
      timers.startSingleTimer(Due.class, due, Duration.ofMillis(due.tickMs() - now));
      return Effect().noReply();
    }
    lastTickMs = due.tickMs();
    deps.metrics().due(now - due.tickMs());
    scheduleAfter(now);
    if (running) {
      deps.metrics().skippedBusy();
      ctx.getLog().debug("Job {}: tick {} skipped, the previous run is still going", jobId, due.tickMs());
      return Effect().noReply();
    }
    running = true;
    long tick = due.tickMs();
    // batched with the claims of the other jobs due at the same time; committed before the answer
    ctx.pipeToSelf(deps.store().claimLater(new JobStore.ClaimRequest(jobId, tick, deps.nodeId(), incarnation,
            System.currentTimeMillis())),
        (claim, failure) -> new ClaimDone(tick, System.currentTimeMillis(), claim,
            failure == null ? null : JobView.describe(failure)));
    return Effect().noReply();
  }

  private ReplyEffect<Event, State> onClaimDone(State state, ClaimDone cmd) {
    if (cmd.error() != null) {
      deps.metrics().claimFailed();
      ctx.getLog().warn("Job {}: tick {} not run: its claim failed ({})", jobId, Instant.ofEpochMilli(cmd.tickMs()),
          cmd.error());
      return runEnded();
    }
    if (cmd.claim() == JobStore.Claim.TAKEN) {
      deps.metrics().claimTaken();
      ctx.getLog().info("Job {}: tick {} was already claimed elsewhere; not run here", jobId,
          Instant.ofEpochMilli(cmd.tickMs()));
      return runEnded();
    }
    long start = System.currentTimeMillis();
    deps.metrics().started(start - cmd.tickMs());
    Spec spec = state.spec() != null ? state.spec() : scheduled;
    ctx.pipeToSelf(deps.runner().run(jobId, spec, cmd.tickMs(), label),
        (outcome, failure) -> new RunDone(cmd.tickMs(), start,
            failure == null ? outcome : new JobRunner.Outcome("error", null, JobView.describe(failure))));
    return Effect().noReply();
  }

  private ReplyEffect<Event, State> onRunDone(State state, RunDone cmd) {
    JobRunner.Outcome o = cmd.outcome();
    deps.metrics().finished(o.status(), System.currentTimeMillis() - cmd.startedMs());
    if (!o.status().equals("ok")) {
      ctx.getLog().warn("Job {}: tick {} ended {}{}{}", jobId, Instant.ofEpochMilli(cmd.tickMs()), o.status(),
          o.exitCode() == null ? "" : " (exit code " + o.exitCode() + ")", o.detail() == null ? "" : ": " + o.detail());
    }
    long tick = cmd.tickMs();
    boolean prune = ++runsSincePrune >= Math.max(1, deps.settings().keepRuns() / 2);
    if (prune) {
      runsSincePrune = 0;
    }
    long keepFrom = tick - (long) deps.settings().keepRuns() * Math.max(1, scheduled == null ? 1
        : scheduled.gapAfter(jobId, tick));
    if (prune) {
      // a failed prune (the store is failing, which the claims report) is done by the next one
      deps.store().background(s -> s.prune(jobId, keepFrom)).exceptionally(failure -> 0);
    }
    // batched with the other ends recorded at the same time
    ctx.pipeToSelf(deps.store().finishLater(new JobStore.Finish(jobId, tick, incarnation, System.currentTimeMillis(),
        o.exitCode(), o.status())), (recorded, failure) -> {
      if (failure != null) {
        ctx.getLog().warn("Job {}: the end of tick {} could not be recorded: {}", jobId, tick, JobView.describe(failure));
      } else if (!recorded) {
        ctx.getLog().warn("Job {}: tick {} ran here, but another incarnation had recorded it lost meanwhile", jobId, tick);
      }
      return new Finished(tick);
    });
    return Effect().noReply();
  }

  private ReplyEffect<Event, State> onFinished() {
    return runEnded();
  }

  /** A tick's run (or its claim) ended: the late tick that waited behind a catch-up run goes next. */
  private ReplyEffect<Event, State> runEnded() {
    running = false;
    long late = pendingLateMs;
    pendingLateMs = Long.MIN_VALUE;
    if (late > lastTickMs && !stopping) {
      ctx.getSelf().tell(new Due(late));
    }
    return stopIfStopping();
  }

  // --- stopping ---

  private ReplyEffect<Event, State> onStop() {
    stopping = true;
    stoppedByShard = true;
    timers.cancelAll();
    if (running) {
      ctx.getLog().info("Job {}: stopping on {} after the run in progress", jobId, deps.nodeId());
      return Effect().noReply();
    }
    return stopIfStopping();
  }

  /** The shard has asked this entity to stop, nothing is in progress and no reply is owed. */
  private boolean mayStopNow() {
    return stoppedByShard && !running && pendingWrites == 0;
  }

  private ReplyEffect<Event, State> stopIfStopping() {
    return mayStopNow() ? Effect().stop().thenNoReply() : Effect().noReply();
  }

  /**
   * Asks the shard to stop this entity. From now on a definition is answered "moving; try again" (the caller asks
   * again, and the shard starts a new incarnation for it), so that none is accepted that the stop would drop.
   */
  private void passivate() {
    stopping = true;
    shard.tell(new ClusterSharding.Passivate<>(ctx.getSelf()));
  }
}
