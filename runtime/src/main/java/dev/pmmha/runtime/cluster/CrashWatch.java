package dev.pmmha.runtime.cluster;

import com.typesafe.config.Config;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.runtime.config.NodeSettings;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Down;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * Recognises a crashed peer without waiting out the failure detector: when a process dies, its kernel closes its
 * sockets at once, so a connection to its remoting port is refused while its host still answers. A dead machine
 * refuses nothing (its peers hear silence), and a paused or starved process still has its port accepting in the
 * kernel, so neither is taken for a crash: those are left to the failure detector and the split brain resolver.
 *
 * <p>Every {@code interval} this node opens (and at once closes) a TCP connection to the remoting port of each
 * other member that is Up. After {@code confirmations} refusals in a row it downs that member (the same
 * {@code Down} the split brain resolver would give, seconds earlier) and quarantines that incarnation, so that
 * the cluster removes it at its next leader action instead of after the failure detector. A wrong down costs the
 * downed node one restart, never safety: leadership is fenced in the store, and a new leader still waits out the
 * old lease.
 *
 * <p>A lost machine (power cut, kernel hang) answers nothing, so its connects time out instead. After
 * {@code confirmations} silent probes in a row of the member that holds the fence, this node reads the fence;
 * once that member's lease has run out (or was released), it is downed and quarantined the same way. Its lease
 * running out means it can no longer act, so downing it costs nothing that a live leader would have kept, and the
 * failure detector and the split brain resolver (about 3 s together with the defaults) are not waited for. A
 * silent member whose lease still runs is alive as far as the store knows: it is left to those, as is any silent
 * member that does not lead.
 */
public final class CrashWatch extends AbstractBehavior<CrashWatch.Command> {

  /** How often each peer is probed, how many refusals in a row make a crash, and how long a connect may take. */
  public record Settings(
      boolean enabled, Duration interval, int confirmations, Duration connectTimeout, int isolationConfirmations) {

    /** {@code pmm-ha.crash-watch} (PMM_HA_CRASH_WATCH turns it off); a bad value is a one-line error. */
    public static Settings from(Config root) {
      Config c = root.getConfig("pmm-ha.crash-watch");
      boolean enabled = NodeSettings.parseBool(c.getString("enabled"), "PMM_HA_CRASH_WATCH");
      Duration interval = NodeSettings.duration(c, "interval", "pmm-ha.crash-watch.interval");
      Duration timeout = NodeSettings.duration(c, "connect-timeout", "pmm-ha.crash-watch.connect-timeout");
      if (interval.toMillis() < 10) {
        throw new SettingsException("pmm-ha.crash-watch.interval", interval.toMillis() + "ms", "10ms or more");
      }
      if (timeout.toMillis() < 1) {
        throw new SettingsException("pmm-ha.crash-watch.connect-timeout", timeout.toMillis() + "ms", "1ms or more");
      }
      return new Settings(enabled, interval, count(c, "confirmations"), timeout, count(c, "isolation-confirmations"));
    }

    private static int count(Config c, String key) {
      String n = c.getString(key);
      int value;
      try {
        value = Integer.parseInt(n.trim());
      } catch (NumberFormatException e) {
        value = 0;
      }
      if (value < 1 || value > 100) {
        throw new SettingsException("pmm-ha.crash-watch." + key, n, "a whole number from 1 to 100");
      }
      return value;
    }
  }

  /** What one connection attempt found. */
  enum Outcome { ACCEPTED, REFUSED, NO_ANSWER }

  public sealed interface Command {}

  private enum Tick implements Command { INSTANCE }

  private record ClusterChanged(ClusterEvent.MemberEvent event) implements Command {}

  private record Probed(UniqueAddress member, Outcome outcome) implements Command {}

  private record FenceRead(UniqueAddress member, Fence.State state, Throwable failure) implements Command {}

  private final Settings settings;
  private final Cluster cluster;
  private final ExecutorService prober;
  private final Map<UniqueAddress, Member> up = new HashMap<>();
  private final Map<UniqueAddress, Integer> refusals = new HashMap<>();
  private final Map<UniqueAddress, Integer> silences = new HashMap<>();
  private final Set<UniqueAddress> fenceReads = new HashSet<>();
  private final Supplier<CompletionStage<Fence.State>> fence;
  private final Supplier<String> knownLeader;
  private boolean isolating;
  private final Set<UniqueAddress> inFlight = new HashSet<>();
  private final Set<UniqueAddress> downed = new HashSet<>();

  /**
   * {@code fence} reads the fence row (who holds it, how much of the lease is left) from the store;
   * {@code knownLeader} is the node id of the leader this node last heard of, or empty: the fence is read only
   * for a silent member that may be the leader.
   */
  public static Behavior<Command> create(
      Settings settings, Supplier<CompletionStage<Fence.State>> fence, Supplier<String> knownLeader) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.interval());
      return new CrashWatch(ctx, settings, fence, knownLeader);
    }));
  }

  private CrashWatch(ActorContext<Command> ctx, Settings settings, Supplier<CompletionStage<Fence.State>> fence,
      Supplier<String> knownLeader) {
    super(ctx);
    ctx.setLoggerName(CrashWatch.class);
    this.settings = settings;
    this.fence = fence;
    this.knownLeader = knownLeader;
    this.cluster = Cluster.get(ctx.getSystem());
    // one thread per silent peer at most (a probe is never sent to a member with one in flight): a connect that
    // times out does not hold up the probes of the others
    this.prober = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "pmm-ha-crash-watch");
      t.setDaemon(true);
      return t;
    });
    ActorRef<ClusterEvent.MemberEvent> events = ctx.messageAdapter(ClusterEvent.MemberEvent.class, ClusterChanged::new);
    cluster.subscriptions().tell(Subscribe.create(events, ClusterEvent.MemberEvent.class));
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(ClusterChanged.class, c -> onMember(c.event().member()))
        .onMessageEquals(Tick.INSTANCE, this::probeAll)
        .onMessage(Probed.class, this::onProbed)
        .onMessage(FenceRead.class, this::onFenceRead)
        .onSignal(PostStop.class, s -> {
          prober.shutdownNow();
          return this;
        })
        .build();
  }

  private Behavior<Command> onMember(Member m) {
    if (m.status() == MemberStatus.up() && !m.uniqueAddress().equals(cluster.selfMember().uniqueAddress())) {
      up.put(m.uniqueAddress(), m);
    } else {
      // leaving, exiting, down or removed: a node that leaves closes its ports on purpose
      up.remove(m.uniqueAddress());
      refusals.remove(m.uniqueAddress());
      silences.remove(m.uniqueAddress());
      if (m.status() == MemberStatus.removed()) {
        downed.remove(m.uniqueAddress());
      }
    }
    return this;
  }

  private Behavior<Command> probeAll() {
    for (Member m : up.values()) {
      UniqueAddress id = m.uniqueAddress();
      if (downed.contains(id) || !inFlight.add(id)) {
        continue;
      }
      Address a = m.address();
      var self = getContext().getSelf();
      try {
        prober.execute(() -> self.tell(new Probed(id, connect(a.getHost().get(), (Integer) a.getPort().get(),
            settings.connectTimeout()))));
      } catch (RejectedExecutionException e) {
        inFlight.remove(id);
      }
    }
    return this;
  }

  private Behavior<Command> onProbed(Probed p) {
    inFlight.remove(p.member());
    Member m = up.get(p.member());
    if (m == null) {
      return this;
    }
    int n = decide(refusals.getOrDefault(p.member(), 0), p.outcome());
    refusals.put(p.member(), n);
    int quiet = p.outcome() == Outcome.NO_ANSWER ? silences.getOrDefault(p.member(), 0) + 1 : 0;
    silences.put(p.member(), quiet);
    if (n >= settings.confirmations() && downed.add(p.member())) {
      getContext().getLog().warn("CRASH of {}: its remoting port {} refused {} connections in a row (its process is "
          + "gone, its host answers); downing it without waiting for the failure detector", Membership.nodeName(m),
          m.address().hostPort(), n);
      cluster.manager().tell(new Down(m.address()));
      quarantine(m.uniqueAddress(), "its remoting port refuses connections");
    } else if (quiet >= settings.isolationConfirmations() && isolatedLeader()) {
      return this;
    } else if (quiet >= settings.confirmations() && !downed.contains(p.member())
        && mayLead(Membership.nodeName(m), knownLeader.get()) && fenceReads.add(p.member())) {
      var self = getContext().getSelf();
      UniqueAddress id = p.member();
      fence.get().whenComplete((state, failure) -> self.tell(new FenceRead(id, state, failure)));
    }
    return this;
  }

  private Behavior<Command> onFenceRead(FenceRead r) {
    fenceReads.remove(r.member());
    Member m = up.get(r.member());
    if (m == null || r.failure() != null || downed.contains(r.member())
        || silences.getOrDefault(r.member(), 0) < settings.confirmations()) {
      return this; // answered since, gone, or the store is not readable from here: nothing is known
    }
    String name = Membership.nodeName(m);
    if (lostLeader(name, r.state()) && downed.add(r.member())) {
      getContext().getLog().warn("SILENT LEADER {}: its remoting port {} did not answer {} connects in a row and its "
          + "lease on the fence (epoch {}) has run out, so it can no longer act (a lost machine or a cut link); "
          + "downing it without waiting for the failure detector", name, m.address().hostPort(),
          silences.get(r.member()), r.state().epoch());
      cluster.manager().tell(new Down(m.address()));
      quarantine(m.uniqueAddress(), "silent, and its lease on the fence ran out");
    }
    return this;
  }

  /**
   * This node leads and hears nothing from most of the cluster (every probe of each of them timed out, at least
   * isolation-confirmations in a row): it is the one cut off, so it downs itself, which ends its leadership and
   * releases the fence while it still reaches the store; the others, hearing nothing from a leader whose fence is
   * released, down it in turn and take over. The split brain resolver would down it too, after the failure
   * detector and its stable-after (about 2.7 s with the defaults).
   */
  private boolean isolatedLeader() {
    String self = Membership.nodeName(cluster.selfMember());
    if (!self.equals(knownLeader.get()) || isolating) {
      return false;
    }
    long silent = up.keySet().stream()
        .filter(id -> silences.getOrDefault(id, 0) >= settings.isolationConfirmations()).count();
    if (!inMinority(up.size(), (int) silent)) {
      return false;
    }
    isolating = true;
    getContext().getLog().warn("ISOLATED: this node leads, but none of the connects to {} of its {} peers answered "
        + "({} in a row each): it downs itself so that the fence is released and the others take over; it restarts "
        + "and joins them when the network heals", silent, up.size(), settings.isolationConfirmations());
    cluster.manager().tell(new Down(cluster.selfMember().address()));
    return true;
  }

  /** With {@code silentPeers} of {@code peers} silent, this node and the peers it hears are under half the cluster. */
  static boolean inMinority(int peers, int silentPeers) {
    return peers > 0 && 2 * (1 + peers - silentPeers) < 1 + peers;
  }

  /** A member may be the leader unless another node is known to lead. */
  static boolean mayLead(String nodeName, String knownLeader) {
    return knownLeader == null || knownLeader.isEmpty() || knownLeader.equals(nodeName);
  }

  /** True when {@code state} says that node {@code nodeName} held the fence last and can no longer act on it. */
  static boolean lostLeader(String nodeName, Fence.State state) {
    return state != null && state.holder() != null && state.holder().startsWith(nodeName + "/") && state.free();
  }

  /**
   * Quarantines the dead incarnation, as Pekko does itself when it removes a member: the cluster then marks it
   * TERMINATED at once (ClusterCoreDaemon's reaction to a QuarantinedEvent), and a downed member that is
   * unreachable or terminated is removed at the next leader action, instead of after the failure detector has
   * also given up on it (1.6 s with the defaults). Only this uid is refused from then on: a restarted process
   * (another uid) joins as usual. This uses the remoting provider's quarantine, an internal Pekko API (pinned
   * version, pom.xml); if it is not there, the down alone still holds and removal waits for the detector.
   */
  private void quarantine(UniqueAddress dead, String why) {
    try {
      var provider = org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(getContext().getSystem()).provider();
      if (provider instanceof org.apache.pekko.remote.RemoteActorRefProvider remote) {
        remote.quarantine(dead.address(), scala.Option.apply((Object) dead.longUid()),
            "pmm-ha crash watch: " + why);
      }
    } catch (RuntimeException | LinkageError e) {
      getContext().getLog().warn("CRASH of {}: could not quarantine it ({}); its removal waits for the failure "
          + "detector", dead.address(), e.toString());
    }
  }

  /** The count of refusals in a row after one more outcome: only a refusal counts, anything else starts again. */
  static int decide(int refusalsSoFar, Outcome outcome) {
    return outcome == Outcome.REFUSED ? refusalsSoFar + 1 : 0;
  }

  /** One connection attempt, closed at once. */
  static Outcome connect(String host, int port, Duration timeout) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host, port), (int) Math.max(1, timeout.toMillis()));
      return Outcome.ACCEPTED;
    } catch (ConnectException e) {
      // "Connection refused" (an RST); an unreachable route is also a ConnectException, but says nothing of the
      // process: only a refusal counts
      return e.getMessage() != null && e.getMessage().contains("refused") ? Outcome.REFUSED : Outcome.NO_ANSWER;
    } catch (IOException | RuntimeException e) {
      return Outcome.NO_ANSWER;
    }
  }
}
