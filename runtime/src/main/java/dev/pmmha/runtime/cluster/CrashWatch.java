package dev.pmmha.runtime.cluster;

import com.typesafe.config.Config;
import dev.pmmha.persistence.SettingsException;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
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
 */
public final class CrashWatch extends AbstractBehavior<CrashWatch.Command> {

  /** How often each peer is probed, how many refusals in a row make a crash, and how long a connect may take. */
  public record Settings(boolean enabled, Duration interval, int confirmations, Duration connectTimeout) {

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
      String n = c.getString("confirmations");
      int confirmations;
      try {
        confirmations = Integer.parseInt(n.trim());
      } catch (NumberFormatException e) {
        confirmations = 0;
      }
      if (confirmations < 1 || confirmations > 100) {
        throw new SettingsException("pmm-ha.crash-watch.confirmations", n, "a whole number from 1 to 100");
      }
      return new Settings(enabled, interval, confirmations, timeout);
    }
  }

  /** What one connection attempt found. */
  enum Outcome { ACCEPTED, REFUSED, NO_ANSWER }

  public sealed interface Command {}

  private enum Tick implements Command { INSTANCE }

  private record ClusterChanged(ClusterEvent.MemberEvent event) implements Command {}

  private record Probed(UniqueAddress member, Outcome outcome) implements Command {}

  private final Settings settings;
  private final Cluster cluster;
  private final ExecutorService prober;
  private final Map<UniqueAddress, Member> up = new HashMap<>();
  private final Map<UniqueAddress, Integer> refusals = new HashMap<>();
  private final Set<UniqueAddress> inFlight = new HashSet<>();
  private final Set<UniqueAddress> downed = new HashSet<>();

  public static Behavior<Command> create(Settings settings) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.interval());
      return new CrashWatch(ctx, settings);
    }));
  }

  private CrashWatch(ActorContext<Command> ctx, Settings settings) {
    super(ctx);
    ctx.setLoggerName(CrashWatch.class);
    this.settings = settings;
    this.cluster = Cluster.get(ctx.getSystem());
    this.prober = Executors.newSingleThreadExecutor(r -> {
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
    if (n >= settings.confirmations() && downed.add(p.member())) {
      getContext().getLog().warn("CRASH of {}: its remoting port {} refused {} connections in a row (its process is "
          + "gone, its host answers); downing it without waiting for the failure detector", Membership.nodeName(m),
          m.address().hostPort(), n);
      cluster.manager().tell(new Down(m.address()));
      quarantine(m.uniqueAddress());
    }
    return this;
  }

  /**
   * Quarantines the dead incarnation, as Pekko does itself when it removes a member: the cluster then marks it
   * TERMINATED at once (ClusterCoreDaemon's reaction to a QuarantinedEvent), and a downed member that is
   * unreachable or terminated is removed at the next leader action, instead of after the failure detector has
   * also given up on it (1.6 s with the defaults). Only this uid is refused from then on: a restarted process
   * (another uid) joins as usual. This uses the remoting provider's quarantine, an internal Pekko API (pinned
   * version, pom.xml); if it is not there, the down alone still holds and removal waits for the detector.
   */
  private void quarantine(UniqueAddress dead) {
    try {
      var provider = org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(getContext().getSystem()).provider();
      if (provider instanceof org.apache.pekko.remote.RemoteActorRefProvider remote) {
        remote.quarantine(dead.address(), scala.Option.apply((Object) dead.longUid()),
            "pmm-ha crash watch: its remoting port refuses connections");
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
