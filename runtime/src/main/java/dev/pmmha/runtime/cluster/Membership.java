package dev.pmmha.runtime.cluster;

import dev.pmmha.http.api.ClusterView.NodeStatus;
import dev.pmmha.http.api.LeaderView.LeaderInfo;
import dev.pmmha.runtime.Guardian;
import dev.pmmha.runtime.Main;
import dev.pmmha.runtime.config.ClusterConfig;
import dev.pmmha.runtime.leader.Leader;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * The one writer of {@link NodeState}'s membership snapshot and of the leader it knows: follows cluster events
 * (logging each change once at INFO) and the leader's announcements. The member list is built from the events
 * alone, the way Pekko builds its own read view, not by reading {@code cluster.state()}: that view is updated by
 * another subscriber and may lag the event being handled, which once needed a poll to catch up. Holds no state
 * that must survive: on restart the subscription replays the current members as events.
 */
public final class Membership extends AbstractBehavior<Membership.Command> {

  public sealed interface Command {}

  private record ClusterChanged(ClusterEvent.ClusterDomainEvent event) implements Command {}

  private record NewsReceived(Leader.News news) implements Command {}

  /** Time to tell the cluster whether this node reaches the store. */
  private enum ReportStore implements Command {
    INSTANCE
  }

  static final Duration STORE_REPORT_INTERVAL = Duration.ofMillis(500);

  public static Behavior<Command> create(
      NodeState node,
      ActorRef<Topic.Command<Leader.News>> topic,
      ActorRef<Leader.Command> leaderProxy,
      PmmHaMetrics metrics,
      Duration leaseTtl) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(ReportStore.INSTANCE, STORE_REPORT_INTERVAL);
      return new Membership(ctx, node, topic, leaderProxy, metrics, leaseTtl);
    }));
  }

  private final NodeState node;
  private final Cluster cluster;
  /** Nodes seen before and removed since, with PMM's status word: left (graceful) or dead (downed). */
  private final Map<String, NodeStatus> gone = new LinkedHashMap<>();
  /** Whether the last refresh found no reachable Up member that may lead (logged once per change). */
  private boolean nobodyMayLeadLogged;
  /** The members and their status, as the events have told them (the subscription replays the current ones). */
  private final Map<UniqueAddress, Member> members = new HashMap<>();
  private final Set<UniqueAddress> unreachable = new HashSet<>();

  private final ActorRef<Leader.Command> leaderProxy;
  private final ActorRef<Topic.Command<Leader.News>> topic;
  private final Duration leaseTtl;
  private final ActorRef<Leader.SettingsSnapshot> snapshotAdapter;
  private final PmmHaMetrics metrics;
  /** When this node lost sight of the leader it knew (its member went unreachable, left or was removed). */
  private long leaderLostAtNanos;

  private Membership(
      ActorContext<Command> ctx,
      NodeState node,
      ActorRef<Topic.Command<Leader.News>> topic,
      ActorRef<Leader.Command> leaderProxy,
      PmmHaMetrics metrics,
      Duration leaseTtl) {
    super(ctx);
    this.leaseTtl = leaseTtl;
    this.metrics = metrics;
    this.leaderProxy = leaderProxy;
    this.topic = topic;
    this.snapshotAdapter = ctx.messageAdapter(Leader.SettingsSnapshot.class, NewsReceived::new);
    ctx.setLoggerName(Membership.class);
    this.node = node;
    this.cluster = Cluster.get(ctx.getSystem());
    node.selfStatusFrom(() -> cluster.selfMember().status());
    // seeded once from the read view (after a restart of this actor), then kept by the events alone
    ClusterEvent.CurrentClusterState seed = cluster.state();
    seed.getMembers().forEach(m -> members.put(m.uniqueAddress(), m));
    seed.getUnreachable().forEach(m -> unreachable.add(m.uniqueAddress()));
    ActorRef<ClusterEvent.ClusterDomainEvent> events = ctx.messageAdapter(ClusterEvent.ClusterDomainEvent.class, ClusterChanged::new);
    cluster.subscriptions().tell(Subscribe.create(events, ClusterEvent.ClusterDomainEvent.class));
    topic.tell(Topic.subscribe(ctx.messageAdapter(Leader.News.class, NewsReceived::new)));
    refresh();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(ClusterChanged.class, this::onClusterChanged)
        .onMessage(NewsReceived.class, this::onNews)
        .onMessage(ReportStore.class, r -> {
          topic.tell(Topic.publish(new Leader.StoreHealth(node.nodeId(), node.storeReachable())));
          stepAsideIfDue();
          return this;
        })
        .build();
  }

  private Behavior<Command> onClusterChanged(ClusterChanged msg) {
    var log = getContext().getLog();
    ClusterEvent.ClusterDomainEvent e = msg.event();
    noteLeaderLoss(e);
    if (e instanceof ClusterEvent.MemberRemoved removed) {
      members.remove(removed.member().uniqueAddress());
      unreachable.remove(removed.member().uniqueAddress());
    } else if (e instanceof ClusterEvent.MemberEvent m) {
      members.put(m.member().uniqueAddress(), m.member());
    } else if (e instanceof ClusterEvent.UnreachableMember u) {
      unreachable.add(u.member().uniqueAddress());
    } else if (e instanceof ClusterEvent.ReachableMember r) {
      unreachable.remove(r.member().uniqueAddress());
    }

    if (e instanceof ClusterEvent.MemberUp up) {
      log.info("MEMBER up: {} ({})", nodeName(up.member()), up.member().address());
      gone.remove(nodeName(up.member()));
      node.memberUp(nodeName(up.member()));
    } else if (e instanceof ClusterEvent.MemberJoined j) {
      log.info("MEMBER joining: {} ({})", nodeName(j.member()), j.member().address());
    } else if (e instanceof ClusterEvent.MemberLeft left) {
      log.info("MEMBER leaving: {} ({})", nodeName(left.member()), left.member().address());
    } else if (e instanceof ClusterEvent.MemberDowned down) {
      log.info("MEMBER downed: {} ({})", nodeName(down.member()), down.member().address());
      node.memberDowned(nodeName(down.member()), System.currentTimeMillis());
    } else if (e instanceof ClusterEvent.MemberRemoved removed) {
      String name = nodeName(removed.member());
      String status = removed.previousStatus() == MemberStatus.down() ? "dead" : "left";
      log.info("MEMBER removed: {} ({}), {}", name, removed.member().address(), status);
      if (removed.previousStatus() == MemberStatus.down()) {
        node.memberDowned(name, System.currentTimeMillis()); // the downing itself was not seen here
      }
      gone.put(name, new NodeStatus(name, "NODE_ROLE_FOLLOWER", status, removed.member().address().toString(),
          !removed.member().hasRole(ClusterConfig.MAY_LEAD_ROLE)));
    } else if (e instanceof ClusterEvent.UnreachableMember u) {
      log.info("MEMBER unreachable: {} ({})", nodeName(u.member()), u.member().address());
      node.memberUnreachable(nodeName(u.member()), System.currentTimeMillis());
    } else if (e instanceof ClusterEvent.ReachableMember r) {
      log.info("MEMBER reachable again: {} ({})", nodeName(r.member()), r.member().address());
      node.memberReachable(nodeName(r.member()));
    }
    refresh();
    return this;
  }

  /**
   * Two members with one node id would make every per-node answer ambiguous. The younger of the two is refused:
   * if that is this node, it stops (exit code 2); otherwise this node downs the newcomer.
   */
  private final java.util.Set<org.apache.pekko.cluster.UniqueAddress> refused = new java.util.HashSet<>();

  private void refuseDuplicateNodeId(Member other) {
    Member self = cluster.selfMember();
    if (other.uniqueAddress().equals(self.uniqueAddress()) || !nodeName(other).equals(node.nodeId())
        || other.status() == MemberStatus.down() || other.status() == MemberStatus.removed()
        || !refused.add(other.uniqueAddress())) {
      return;
    }
    var log = getContext().getLog();
    if (other.isOlderThan(self)) {
      log.error("PMM_HA_NODE_ID={} is already used by the member at {}: this node refuses to join; give every node "
          + "its own PMM_HA_NODE_ID", node.nodeId(), other.address());
      org.apache.pekko.actor.CoordinatedShutdown.get(getContext().getSystem()).runAll(Guardian.DuplicateNodeId.INSTANCE);
    } else {
      log.warn("A second node with PMM_HA_NODE_ID={} tried to join from {}: downing it", node.nodeId(), other.address());
      cluster.manager().tell(new org.apache.pekko.cluster.typed.Down(other.address()));
    }
  }

  private void noteLeaderLoss(ClusterEvent.ClusterDomainEvent e) {
    Member m = e instanceof ClusterEvent.UnreachableMember u ? u.member()
        : e instanceof ClusterEvent.MemberLeft l ? l.member()
        : e instanceof ClusterEvent.MemberRemoved r ? r.member()
        : e instanceof ClusterEvent.MemberDowned d ? d.member() : null;
    if (m != null && node.currentLeader().map(l -> l.nodeId().equals(nodeName(m))).orElse(false)) {
      node.settingsLeaderLost();
      if (leaderLostAtNanos == 0) {
        leaderLostAtNanos = System.nanoTime();
      }
    }
  }

  private Behavior<Command> onNews(NewsReceived msg) {
    if (msg.news() instanceof Leader.SettingsSnapshot s) {
      node.settingsUpdated(s);
      return this;
    }
    if (msg.news() instanceof Leader.SwitchoverAsked asked) {
      node.switchoverAsked(asked);
      return this;
    }
    if (msg.news() instanceof Leader.HandOverOffer || msg.news() instanceof Leader.FenceHandedOver) {
      return this; // for the node it names (HandOverOffers)
    }
    if (msg.news() instanceof Leader.StoreHealth h) {
      node.storeReported(h.nodeId(), h.reachable());
      return this;
    }
    Leader.Announcement a = (Leader.Announcement) msg.news();
    if (a.settingsVersion() > node.settings().version()) {
      // a snapshot was missed (joined late, or a message was lost): fetch the leader's copy
      leaderProxy.tell(new Leader.GetSettings(snapshotAdapter));
    }
    var before = node.currentLeader();
    node.leaderAnnounced(new LeaderInfo(a.nodeId(), a.epoch(), a.since()));
    node.settingsAnnounced(a.epoch(), a.settingsVersion());
    if (before.isEmpty() || before.get().epoch() < a.epoch()) {
      getContext().getLog().info("LEADER is {} with epoch {} (as seen by {})", a.nodeId(), a.epoch(), node.nodeId());
      metrics.leadershipChanged();
      if (leaderLostAtNanos != 0) {
        metrics.timeToNewLeader(Duration.ofNanos(System.nanoTime() - leaderLostAtNanos));
        leaderLostAtNanos = 0;
      }
    }
    return this;
  }

  /**
   * Steps aside ({@link StepAside}) when this node hosts the leader singleton but cannot reach the store while most
   * of the cluster can: it downs itself and exits 4; its supervisor restarts it.
   */
  private void stepAsideIfDue() {
    long trouble = node.storeUnreachableNanos();
    if (trouble == 0 || node.steppingAside() || node.isLeader() || !hostsLeaderSingleton()) {
      return;
    }
    int[] peers = node.peersReachingStore(StepAside.REPORT_FRESHNESS);
    boolean anotherMayLead = members.values().stream().anyMatch(m -> !m.equals(cluster.selfMember())
        && m.status() == MemberStatus.up() && m.hasRole(ClusterConfig.MAY_LEAD_ROLE)
        && !unreachable.contains(m.uniqueAddress()));
    if (!StepAside.due(trouble, leaseTtl, peers[0], peers[1], anotherMayLead)) {
      return;
    }
    node.stepAsideStarted();
    getContext().getLog().warn("LEADER steps aside on {}: it has not reached the store for {} ms ({}) while {} of its "
        + "{} peers do; it downs itself so that one of them leads, and exits {} for its supervisor to restart it",
        node.nodeId(), trouble / 1_000_000, node.readiness().reason(), peers[1], peers[0], Main.EXIT_DOWNED);
    // down, not leave: a graceful leave hands the singleton over only once the leader actor has stopped, and with the
    // link broken that actor can sit in a journal write until its timeout; once this node is down and removed, the
    // next node starts the singleton at once and takes the fence when the lease has run out, as after a crash
    cluster.manager().tell(new org.apache.pekko.cluster.typed.Down(cluster.selfMember().address()));
  }

  /** This node is the oldest member that may lead: the leader singleton runs here. */
  private boolean hostsLeaderSingleton() {
    return LeaderPlacement.hostsOrIsNext(members.values(), cluster.selfMember(), "");
  }

  /** Publishes the member list the events have built to {@link NodeState}. */
  private void refresh() {
    List<NodeStatus> nodes = new ArrayList<>();
    int mayLead = 0;
    for (Member m : members.values().stream()
        .sorted(Comparator.comparing(m -> m.address().toString()))
        .collect(Collectors.toList())) {
      String name = nodeName(m);
      refuseDuplicateNodeId(m);
      MemberStatus st = m.status();
      boolean isUnreachable = unreachable.contains(m.uniqueAddress());
      String status;
      if (st == MemberStatus.down()) {
        status = "dead";
      } else if (st == MemberStatus.leaving() || st == MemberStatus.exiting() || st == MemberStatus.removed()) {
        status = "left";
      } else if (isUnreachable) {
        status = "suspect";
      } else {
        status = "alive";
      }
      boolean nofailover = !m.hasRole(ClusterConfig.MAY_LEAD_ROLE);
      if (st == MemberStatus.up() && !isUnreachable && !nofailover) {
        mayLead++;
      }
      // the role is filled in by NodeState.nodes() when read
      nodes.add(new NodeStatus(name, "NODE_ROLE_FOLLOWER", status, m.address().toString(), nofailover));
    }
    Set<String> present = nodes.stream().map(NodeStatus::nodeName).collect(Collectors.toSet());
    gone.values().stream().filter(g -> !present.contains(g.nodeName())).forEach(nodes::add);

    Member self = members.get(cluster.selfMember().uniqueAddress());
    MemberStatus selfStatus = self == null ? MemberStatus.joining() : self.status();
    // a leaving member is still in service until its singleton is handed over, which happens once it is Exiting
    boolean selfUp = inService(selfStatus);
    boolean selfDown = selfStatus == MemberStatus.down() || selfStatus == MemberStatus.removed();
    node.membersChanged(new NodeState.Members(List.copyOf(nodes), selfUp, selfDown, selfStatus.toString(), mayLead));
    // only while Up: a leaving member stops hearing the others' status before it is gone
    boolean nobodyMayLead = selfStatus == MemberStatus.up() && mayLead == 0;
    if (nobodyMayLead != nobodyMayLeadLogged) {
      nobodyMayLeadLogged = nobodyMayLead;
      if (nobodyMayLead) {
        getContext().getLog().warn("NO LEADER POSSIBLE: {}", NodeState.NOBODY_MAY_LEAD);
      } else {
        getContext().getLog().info("A member that may lead is Up again ({} of them)", mayLead);
      }
    }
  }

  /** Up, or leaving but still in service: a leaving member serves until its singleton is handed over (Exiting). */
  static boolean inService(MemberStatus s) {
    return s == MemberStatus.up() || s == MemberStatus.leaving() || s == MemberStatus.exiting();
  }

  /** The node id a member carries in its roles (its host if it carries none). */
  public static String nodeName(Member m) {
    for (String role : m.getRoles()) {
      if (role.startsWith(ClusterConfig.NODE_ROLE_PREFIX)) {
        return role.substring(ClusterConfig.NODE_ROLE_PREFIX.length());
      }
    }
    return m.address().host().getOrElse(() -> m.address().toString());
  }
}
