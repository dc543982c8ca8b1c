package dev.pmmha.runtime.cluster;

import dev.pmmha.http.api.ClusterView;
import dev.pmmha.http.api.LeaderView;
import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.runtime.leader.Leader;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * This node's view of leadership and membership, read by the HTTP routes, the metrics and the leader services
 * without locks or asks: every field is an immutable snapshot behind a volatile reference. Each piece has one
 * writer:
 * <ul>
 *   <li>this node's own leadership (epoch, right to act, hand-over hold): the leader singleton's {@code Tenure} on
 *       this node, through {@code Leader} and the fence thread it owns (the early answer and the lease keeper act
 *       there so that a 200 never waits for an actor hop);
 *   <li>the members, the leader announced by the cluster, the losses of other nodes: {@link Membership}, from
 *       cluster events and the leader topic;
 *   <li>the settings snapshot: {@link Membership}, from the leader topic (the leader's own node too: it gets
 *       each snapshot once, as every node does); a write waits for its version here before it is answered
 *       ({@link #settingsAt}), so that a read on the node that took the write sees it; and whether the copy is
 *       current (every acknowledged write in it: the version the current leader announced), for reads, which
 *       never answer from a copy that may lack an acknowledged write ({@link #whenSettingsCurrent});
 *   <li>shutting down: the guardian's coordinated-shutdown task; the store's health: {@link StoreProbe}.
 * </ul>
 */
public final class NodeState implements LeaderView, ClusterView {

  /**
   * Membership as the {@link Membership} actor last computed it; {@code mayLead}: the Up members that may lead
   * (without {@code PMM_HA_NOFAILOVER}).
   */
  public record Members(List<NodeStatus> nodes, boolean selfUp, boolean selfDown, String selfStatus, int mayLead) {
    static Members initial() {
      return new Members(List.of(), false, false, "Joining", 0);
    }
  }

  /** The readiness reason of a cluster whose Up members all have {@code PMM_HA_NOFAILOVER}. */
  public static final String NOBODY_MAY_LEAD =
      "no Up member may lead: every one has PMM_HA_NOFAILOVER=true; start a node without it";

  private final boolean haEnabled;
  private final int expectedNodes;
  private final String nodeId;
  private final String namespace;

  private final AtomicReference<LeaderInfo> knownLeader = new AtomicReference<>();
  private volatile LeaderInfo ownLeadership; // non-null while this node's singleton holds a persisted epoch
  private volatile long actUntilNanos; // System.nanoTime() until which the fence lease lets this node act
  private volatile SettingsApi.Snapshot settings = SettingsApi.Snapshot.EMPTY;
  // writes waiting until the snapshot has their version, by version; guarded by this
  private final java.util.NavigableMap<Long, List<CompletableFuture<Void>>> settingsWaiters = new java.util.TreeMap<>();
  // the settings version the leader of announcedEpoch last announced; -1 since start, and since that leader was lost:
  // the copy may lack a write it acknowledged until the next leader says which version is current. Guarded by this
  private long announcedEpoch;
  private long announcedVersion = -1;
  // reads waiting until the copy is known current; guarded by this
  private final List<CompletableFuture<Void>> currentWaiters = new java.util.ArrayList<>();
  private volatile Members members = Members.initial();
  private volatile boolean shuttingDown;
  private volatile String storeProblem = "store not checked yet";
  private volatile java.util.function.Supplier<org.apache.pekko.cluster.MemberStatus> liveSelfStatus;

  // wall-clock time at which the cluster lost each other node for good: the start of the unreachability that
  // ended in its downing (or the downing, when it was never seen unreachable here), until it is up again
  private final java.util.Map<String, Long> lostAt = new java.util.concurrent.ConcurrentHashMap<>();
  // wall-clock time since which each other node has been unreachable, while it is
  private final java.util.Map<String, Long> unreachableSince = new java.util.concurrent.ConcurrentHashMap<>();

  public NodeState(boolean haEnabled, int expectedNodes, String nodeId) {
    this(haEnabled, expectedNodes, nodeId, "");
  }

  /** {@code namespace}: the pod's Kubernetes namespace, empty when not on Kubernetes. */
  public NodeState(boolean haEnabled, int expectedNodes, String nodeId, String namespace) {
    this.haEnabled = haEnabled;
    this.expectedNodes = expectedNodes;
    this.nodeId = nodeId;
    this.namespace = namespace;
  }

  public String nodeId() {
    return nodeId;
  }

  // --- written by the actors ---

  /** {@code name} became unreachable (first sight only, until it is reachable again). */
  void memberUnreachable(String name, long atMs) {
    unreachableSince.putIfAbsent(name, atMs);
  }

  /** {@code name} is reachable again: its unreachability ended without a downing. */
  void memberReachable(String name) {
    unreachableSince.remove(name);
  }

  /**
   * {@code name} was downed (first sight only: a later removal of the same member keeps the earlier time). The
   * cluster lost it when it became unreachable, if this node saw that, else now.
   */
  void memberDowned(String name, long atMs) {
    Long since = unreachableSince.get(name);
    lostAt.putIfAbsent(name, since == null ? atMs : Math.min(since, atMs));
  }

  /** {@code name} is a member again (restarted): its earlier loss no longer says anything. */
  void memberUp(String name) {
    lostAt.remove(name);
    unreachableSince.remove(name);
  }

  /**
   * When the cluster lost the node {@code name}, as this node saw it, if it was downed: the start of the
   * unreachability that ended in the downing (jobs: from then on the cluster owns the node's ticks again).
   */
  public java.util.OptionalLong lostAt(String name) {
    Long at = lostAt.get(name);
    return at == null ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(at);
  }

  public void leadershipGained(long epoch, Instant since, long actUntilNanos) {
    LeaderInfo info = new LeaderInfo(nodeId, epoch, since);
    this.actUntilNanos = actUntilNanos;
    ownLeadership = info;
    leaderAnnounced(info);
  }

  /**
   * A renewal of the lease for {@code epoch} (called on the fence thread). Ignored once this node leads another
   * epoch; before the election it only prepares the value that {@link #leadershipGained} sets again.
   */
  public void leaseRenewed(long epoch, long actUntilNanos) {
    LeaderInfo own = ownLeadership;
    if (own == null || own.epoch() == epoch) {
      this.actUntilNanos = actUntilNanos;
    }
  }

  /** Keeps the snapshot with the highest version, in the shape the routes render (converted once, here). */
  public void settingsUpdated(Leader.SettingsSnapshot s) {
    List<CompletableFuture<Void>> reached = new java.util.ArrayList<>();
    synchronized (this) {
      if (s.version() < settings.version()) {
        return;
      }
      settings = s.toApi();
      var upTo = settingsWaiters.headMap(s.version(), true);
      upTo.values().forEach(reached::addAll);
      upTo.clear();
      takeCurrentWaiters(reached);
    }
    reached.forEach(f -> f.complete(null));
  }

  /**
   * The leader of {@code epoch} says the current settings version is {@code version} (its announcement): the copy
   * is current once it has that version. An older epoch's announcement (a late message) says nothing.
   */
  public void settingsAnnounced(long epoch, long version) {
    List<CompletableFuture<Void>> reached = new java.util.ArrayList<>();
    synchronized (this) {
      if (epoch < announcedEpoch) {
        return;
      }
      announcedEpoch = epoch;
      announcedVersion = version;
      takeCurrentWaiters(reached);
    }
    reached.forEach(f -> f.complete(null));
  }

  /** The announced leader is lost: until the next one announces, the copy may lack a write it acknowledged. */
  public synchronized void settingsLeaderLost() {
    announcedVersion = -1;
  }

  /** Whether the copy has every write acknowledged so far: its version is the one the current leader announced. */
  public synchronized boolean settingsCurrent() {
    return announcedVersion >= 0 && settings.version() >= announcedVersion;
  }

  /** Completes once {@link #settingsCurrent()} (at once if it is). */
  public CompletableFuture<Void> whenSettingsCurrent() {
    CompletableFuture<Void> f = new CompletableFuture<>();
    synchronized (this) {
      if (settingsCurrent()) {
        return CompletableFuture.completedFuture(null);
      }
      currentWaiters.add(f);
    }
    f.whenComplete((v, e) -> {
      synchronized (this) {
        currentWaiters.remove(f);
      }
    });
    return f;
  }

  // guarded by this
  private void takeCurrentWaiters(List<CompletableFuture<Void>> into) {
    if (settingsCurrent()) {
      into.addAll(currentWaiters);
      currentWaiters.clear();
    }
  }

  public SettingsApi.Snapshot settings() {
    return settings;
  }

  /** Completes once this node's snapshot has {@code version} (at once if it has). */
  public CompletableFuture<Void> settingsAt(long version) {
    CompletableFuture<Void> f = new CompletableFuture<>();
    synchronized (this) {
      if (settings.version() >= version) {
        return CompletableFuture.completedFuture(null);
      }
      settingsWaiters.computeIfAbsent(version, v -> new java.util.ArrayList<>()).add(f);
    }
    // a waiter that gives up (its caller's timeout) leaves the map
    f.whenComplete((v, e) -> {
      synchronized (this) {
        var waiting = settingsWaiters.get(version);
        if (waiting != null && waiting.remove(f) && waiting.isEmpty()) {
          settingsWaiters.remove(version);
        }
      }
    });
    return f;
  }

  /**
   * True while this node leads an epoch whose fence lease still has more than the safety margin left, on this
   * node's monotonic clock. Leader services check it before side effects.
   */
  public boolean mayAct() {
    return ownLeadership != null && System.nanoTime() - actUntilNanos < 0;
  }

  /**
   * The {@link System#nanoTime()} instant until which {@link #mayAct()} holds unless the lease is renewed; the
   * fence in the store outlives it by the safety margin. Meaningful only while this node leads.
   */
  public long actUntilNanos() {
    return actUntilNanos;
  }

  public void leadershipLost() {
    ownLeadership = null;
  }

  /** Keeps the announcement with the highest epoch: a late message from an old leader never wins. */
  public void leaderAnnounced(LeaderInfo info) {
    knownLeader.accumulateAndGet(info, (cur, next) -> cur == null || next.epoch() >= cur.epoch() ? next : cur);
    nextLeaderSeen(info.epoch());
  }

  private final java.util.concurrent.atomic.AtomicLong highestEpochSeen = new java.util.concurrent.atomic.AtomicLong();

  /** The highest epoch of a leader this node has heard of (announced, or seen in the fence while handing over). */
  public long highestEpochSeen() {
    return highestEpochSeen.get();
  }

  /** A leader of {@code epoch} exists (announced over the cluster, or seen in the fence by a leaving node). */
  public void nextLeaderSeen(long epoch) {
    highestEpochSeen.accumulateAndGet(epoch, Math::max);
    HandOver h = handOver;
    if (h != null && epoch > h.epoch() && !h.settled().isDone()) {
      CompletableFuture.delayedExecutor(h.tail().toMillis(), TimeUnit.MILLISECONDS).execute(() -> h.settled().complete(null));
    }
  }

  /** The epoch this node is handing over while the hold lasts, or 0. */
  public long handingOverEpoch() {
    HandOver h = handOver;
    return h == null || h.settled().isDone() ? 0 : h.epoch();
  }

  /** A hand-over of this node's epoch in progress: answers to the leader check wait for {@code settled}. */
  private record HandOver(long epoch, Duration tail, CompletableFuture<Void> settled) {}

  private volatile HandOver handOver;

  /**
   * This node, leader of {@code epoch}, starts to hand over. Until the next leader is announced plus {@code tail}
   * (a load balancer's check interval), at most {@code max}, its leader check holds its 503: a request that
   * reached it as it stepped down is then retried when the new leader is already in service.
   */
  public void handOverStarted(long epoch, Duration tail, Duration max) {
    CompletableFuture<Void> settled = new CompletableFuture<Void>().completeOnTimeout(null, max.toMillis(), TimeUnit.MILLISECONDS);
    handOver = new HandOver(epoch, tail, settled);
  }

  @Override
  public CompletionStage<Void> handOverSettled() {
    HandOver h = handOver;
    return h == null ? CompletableFuture.completedFuture(null) : h.settled();
  }

  /** How long the HTTP port stays open after a hand-over settled (see {@link #portMayClose}). */
  static final Duration PORT_DRAIN = Duration.ofSeconds(1);

  /**
   * When this node's HTTP port may close: at once, or, after a hand-over, {@link #PORT_DRAIN} after it settled.
   * Meanwhile the node answers every leader check 503 at once, so a load balancer takes it out on failed checks;
   * a port closed while the load balancer still has the node in service would refuse the requests it is
   * sending, and HAProxy's mark-down on that refusal (observe layer4, shutdown-sessions) cuts the others.
   */
  public CompletionStage<Void> portMayClose() {
    HandOver h = handOver;
    if (h == null) {
      return CompletableFuture.completedFuture(null);
    }
    return h.settled().thenCompose(v -> CompletableFuture.runAsync(() -> { },
        CompletableFuture.delayedExecutor(PORT_DRAIN.toMillis(), TimeUnit.MILLISECONDS)));
  }

  /** Up members, reachable from here, that may lead (without PMM_HA_NOFAILOVER). */
  public int membersMayLead() {
    return members.mayLead();
  }

  public void membersChanged(Members m) {
    members = m;
  }

  /**
   * Where readiness reads this node's own membership status: the cluster's read view, which Pekko Management's
   * {@code /ready} reads too. The member list above follows cluster events through the Membership actor and may
   * be a moment behind it, which made {@code /v1/readyz} answer 503 just after {@code /ready} answered 200.
   */
  void selfStatusFrom(java.util.function.Supplier<org.apache.pekko.cluster.MemberStatus> live) {
    this.liveSelfStatus = live;
  }

  public void shuttingDown() {
    shuttingDown = true;
  }

  /** This node is shutting down and is no longer a member: nothing it is asked can reach the leader any more. */
  public boolean leftTheCluster() {
    return shuttingDown && members.selfDown();
  }

  public boolean isShuttingDown() {
    return shuttingDown;
  }

  private record Asked(Leader.SwitchoverAsked asked, long atNanos) {}

  private volatile Asked switchoverAsked;

  /** A switchover was asked for somewhere in the cluster (Membership, from the topic). */
  void switchoverAsked(Leader.SwitchoverAsked asked) {
    switchoverAsked = new Asked(asked, System.nanoTime());
  }

  /** "switchover to X, asked on Y" when, within the last minute, a switchover away from {@code from} was asked. */
  public String switchoverAsked(String from) {
    Asked a = recentSwitchover(from);
    return a == null ? null : "switchover to " + a.asked().to() + ", asked on " + a.asked().askedOn();
  }

  /** The candidate of a switchover away from {@code from} asked for within the last minute, if there is one. */
  public java.util.Optional<String> switchoverTarget(String from) {
    return java.util.Optional.ofNullable(recentSwitchover(from)).map(a -> a.asked().to());
  }

  private Asked recentSwitchover(String from) {
    Asked a = switchoverAsked;
    return a == null || !a.asked().from().equals(from) || System.nanoTime() - a.atNanos() > 60_000_000_000L ? null : a;
  }

  /** This member is Leaving or Exiting the cluster (told to by itself or by another member). */
  public boolean selfLeaving() {
    var live = liveSelfStatus;
    org.apache.pekko.cluster.MemberStatus s = live != null ? live.get() : null;
    return s == org.apache.pekko.cluster.MemberStatus.leaving() || s == org.apache.pekko.cluster.MemberStatus.exiting();
  }

  /** Whether this node's store probe last reached the store. */
  public boolean storeReachable() {
    return storeProblem == null;
  }

  // the last store report of each node (Membership, from the topic): System.nanoTime() of its arrival, or its
  // negation when the node could not reach the store
  private final java.util.Map<String, Long> storeReports = new java.util.concurrent.ConcurrentHashMap<>();

  /** {@code nodeId} said whether it reaches the store. */
  void storeReported(String nodeId, boolean reachable) {
    long now = System.nanoTime();
    storeReports.put(nodeId, reachable ? now : -now);
  }

  /**
   * The other alive members, and how many of them said within {@code within} that they reach the store: a leader
   * that cannot reach it steps aside only while most of the cluster can.
   */
  public int[] peersReachingStore(Duration within) {
    int alive = 0;
    int reaching = 0;
    long now = System.nanoTime();
    for (NodeStatus n : members.nodes()) {
      if (n.nodeName().equals(nodeId) || !n.status().equals("alive")) {
        continue;
      }
      alive++;
      Long at = storeReports.get(n.nodeName());
      if (at != null && at > 0 && now - at < within.toNanos()) {
        reaching++;
      }
    }
    return new int[] {alive, reaching};
  }

  private volatile long storeUnreachableSince; // System.nanoTime() of the first failed probe in a row, or 0
  private volatile boolean steppingAside;

  /** How long this node's store probe has failed without a break (0: it answers). */
  public long storeUnreachableNanos() {
    long since = storeUnreachableSince;
    return since == 0 ? 0 : Math.max(1, System.nanoTime() - since);
  }

  /** This node has downed itself so that a node that reaches the store leads (see {@link StepAside}). */
  public boolean steppingAside() {
    return steppingAside;
  }

  void stepAsideStarted() {
    steppingAside = true;
  }

  /** A store probe started at {@code startedNanos} found {@code problemOrNull}. */
  void storeChecked(String problemOrNull, long startedNanos) {
    if (problemOrNull == null) {
      storeUnreachableSince = 0;
    } else if (storeUnreachableSince == 0) {
      storeUnreachableSince = startedNanos; // a probe that hung failed from when it was sent
    }
    storeProblem = problemOrNull;
  }

  // --- read by the routes ---

  @Override
  public boolean isLeader() {
    Members m = members;
    // Not gated on shuttingDown: a leader that was asked to stop keeps answering 200 while it still holds its
    // lease and the leave is gossiped; it stops when the hand-over begins (Leader.Stop), so the next leader's
    // first 200 follows the last one by the hand-over itself, not by the whole leave.
    // Not gated on a reachable majority either: the fence is what keeps a second node from answering 200 (no other
    // node can take it while this lease lasts), and the split brain resolver downs a minority side, which ends its
    // leader's tenure. A majority gate only took the leader away from HAProxy while nobody else could lead: in a
    // cluster of two (one node stopped), a moment's unreachable mark of the other made the leader answer 503 (CI's
    // ComposeIT, 2 failed requests 9 s after a take-over).
    return mayAct() && m.selfUp() && !m.selfDown();
  }

  @Override
  public Optional<LeaderInfo> currentLeader() {
    LeaderInfo own = ownLeadership;
    return Optional.ofNullable(own != null ? own : knownLeader.get());
  }

  /** The epoch this node holds as leader, or 0. */
  @Override
  public long ownEpoch() {
    LeaderInfo own = ownLeadership;
    return own == null ? 0 : own.epoch();
  }

  @Override
  public boolean haEnabled() {
    return haEnabled;
  }

  @Override
  public List<NodeStatus> nodes() {
    // the role is derived here, at read time, from the leader this node knows now: a role stored with the member
    // list would stay stale when the leader becomes known after the last membership change
    String leaderId = currentLeader().map(LeaderInfo::nodeId).orElse("");
    return members.nodes().stream()
        .map(n -> new NodeStatus(n.nodeName(),
            n.nodeName().equals(leaderId) && n.status().equals("alive") ? "NODE_ROLE_LEADER" : "NODE_ROLE_FOLLOWER",
            n.status(), n.address(), n.nofailover()))
        .toList();
  }

  @Override
  public int expectedNodes() {
    return expectedNodes;
  }

  @Override
  public String namespace() {
    return namespace;
  }

  private volatile String transportProblem;

  /** The latest TLS refusal on the cluster transport, shown as the readiness reason while this node is not Up. */
  public void transportProblem(String problem) {
    transportProblem = problem;
  }

  @Override
  public Readiness readiness() {
    if (shuttingDown) {
      return Readiness.notReady("shutting down");
    }
    Members m = members;
    var live = liveSelfStatus;
    org.apache.pekko.cluster.MemberStatus self = live != null ? live.get() : null; // read once: answer and reason agree
    boolean up = self != null ? Membership.inService(self) : m.selfUp();
    if (!up) {
      String status = self != null ? self.toString() : m.selfStatus();
      String tls = transportProblem;
      return Readiness.notReady("not Up in the cluster (status " + status + ")" + (tls != null ? ": " + tls : ""));
    }
    String store = storeProblem;
    if (store != null) {
      return Readiness.notReady("store: " + store);
    }
    if (haEnabled && "Up".equals(m.selfStatus()) && m.mayLead() == 0) {
      return Readiness.notReady(NOBODY_MAY_LEAD);
    }
    return Readiness.ok();
  }
}
