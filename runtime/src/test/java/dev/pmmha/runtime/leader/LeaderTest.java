package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.leader.spi.LeaderContext;
import dev.pmmha.runtime.leader.spi.LeaderService;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.persistence.testkit.javadsl.EventSourcedBehaviorTestKit;
import org.apache.pekko.persistence.testkit.javadsl.PersistenceTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The leader singleton alone, on the in-memory journal of Pekko's persistence test kit and a fence in an in-memory
 * H2 store: its phases from the first fence to the hand-over, and its recovery.
 */
class LeaderTest {

  private static final Config CONFIG = EventSourcedBehaviorTestKit.config()
      .withFallback(ConfigFactory.parseString("pekko.actor.provider = local\n"
          + "pmm-ha.leader { lease-ttl = 1s, lease-renew-interval = 100ms, lease-safety-margin = 300ms }"))
      .withFallback(PmmHaConfig.load(Map.of()));
  private static final AtomicInteger STORES = new AtomicInteger();
  /** A system per test: the leader's persistence id is one per cluster, so two tests must not share a journal. */
  private ActorTestKit testKit;

  @BeforeEach
  void start() {
    testKit = ActorTestKit.create(CONFIG);
  }

  @AfterEach
  void stop() {
    testKit.shutdownTestKit();
  }

  /** A leader service that records its calls. */
  static final class Recorder implements LeaderService {
    final List<String> calls = new CopyOnWriteArrayList<>();

    @Override
    public void start(LeaderContext context) {
      calls.add("start " + context.epoch());
    }

    @Override
    public void stop() {
      calls.add("stop");
    }
  }

  /** One leader on its node, with the fence's store and what it reports to. */
  final class Harness {
    final NodeState node;
    final Recorder service = new Recorder();
    final TestProbe<Topic.Command<Leader.News>> topic = testKit.createTestProbe();
    final StoreSettings store;
    final Fence rival;
    final Leader.Deps deps;
    private EventSourcedBehaviorTestKit<Leader.Command, LeaderEvent, LeaderState> kit;

    Harness() {
      this("node-1", null);
    }

    /** {@code store}: the fence's store of another harness (the next leader's), or null for a new one. */
    Harness(String nodeId, StoreSettings shared) {
      node = new NodeState(true, 3, nodeId);
      node.membersChanged(new NodeState.Members(List.of(), true, false, "Up", 1));
      store = shared != null ? shared : StoreSettings.create(ConfigFactory.parseString(
              "pmm-ha.store { url = \"jdbc:h2:mem:leader" + STORES.incrementAndGet() + ";DB_CLOSE_DELAY=-1\", "
                  + "username = sa, password = \"\", startup-wait = 3s }")
          .withFallback(ConfigFactory.defaultReference()).resolve());
      Schema.ensure(store);
      LeaderSettings settings = LeaderSettings.create(CONFIG);
      rival = new Fence(store, settings.leaseTtl());
      deps = new Leader.Deps(node, topic.ref(), new FenceClient(new Fence(store, settings.leaseTtl())),
          new LeaderServices(List.of(new LeaderServices.Entry("recorder", service, Duration.ofSeconds(2),
              Duration.ofSeconds(2))), Duration.ofMillis(100), Duration.ofSeconds(1)),
          new RoleChangeHook(null, nodeId, Duration.ofSeconds(1), null), settings, new PmmHaMetrics(node));
    }

    /** The leader under Pekko's event-sourced test kit, started on first use. */
    EventSourcedBehaviorTestKit<Leader.Command, LeaderEvent, LeaderState> kit() {
      if (kit == null) {
        kit = EventSourcedBehaviorTestKit.create(testKit.system(), Leader.create(deps));
      }
      return kit;
    }

    Leader.Status status() {
      return kit().<Leader.Status>runCommand(Leader.GetStatus::new).reply();
    }

    Leader.Status awaitElected() {
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < deadline) {
        Leader.Status s = status();
        if (s.elected()) {
          return s;
        }
        sleep(20);
      }
      throw new AssertionError("not elected within 10 s");
    }

    StatusReply<Leader.SettingWritten> put(String key, String json) {
      return kit().<StatusReply<Leader.SettingWritten>>runCommand(r -> new Leader.PutSetting(key, json, r)).reply();
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  @Test
  void takesTheFenceJournalsTheEpochStartsItsServicesAndAnswersAsLeader() throws Exception {
    Harness h = new Harness();
    Leader.Status s = h.awaitElected();
    assertEquals(1, s.epoch());
    assertTrue(h.node.isLeader(), "its node answers the leader check");
    assertEquals(List.of("start 1"), h.service.calls);
    var elected = h.kit().getState();
    assertEquals(1, elected.epoch());
    assertEquals("node-1", elected.nodeId());
    assertFalse(h.rival.current().free(), "the fence is held");
    assertEquals(1, h.rival.current().epoch());
  }

  @Test
  void anEpochThisNodeHasSeenIsNeverTakenAgainEvenWhenTheStoreIsBehindIt() throws Exception {
    Harness h = new Harness();
    // the cluster knew a leader of epoch 7; the store (a standby promoted without its last commits) is at 0
    h.node.leaderAnnounced(new dev.pmmha.http.api.LeaderView.LeaderInfo("node-2", 7, java.time.Instant.now()));
    ch.qos.logback.classic.Logger log = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(Leader.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
        new ch.qos.logback.core.read.ListAppender<>();
    logged.start();
    log.addAppender(logged);
    try {
      assertEquals(8, h.awaitElected().epoch());
    } finally {
      log.detachAppender(logged);
    }
    assertEquals(8, h.rival.current().epoch());
    var loud = logged.list.stream().filter(e -> e.getFormattedMessage().startsWith("STORE WENT BACK IN TIME")).toList();
    assertEquals(1, loud.size(), "said once, loudly: " + logged.list);
    assertEquals(ch.qos.logback.classic.Level.ERROR, loud.get(0).getLevel());
    assertTrue(loud.get(0).getFormattedMessage().contains("the fence was at epoch 0, but this cluster already saw epoch 7"),
        loud.get(0).getFormattedMessage());
  }

  @Test
  void aSettingIsWrittenWithTheEpochAndAWriteIsRefusedOnceTheNodeMayNotAct() {
    Harness h = new Harness();
    h.awaitElected();
    var written = h.put("retention", "\"30d\"");
    assertTrue(written.isSuccess());
    assertEquals(new Leader.SettingWritten("retention", 1, 1, true), written.getValue());
    assertEquals("\"30d\"", h.kit().getState().settings().get("retention").json());
    // every node's copy (this one's too) comes from the topic, through its Membership
    var snapshot = Topic.publish((Leader.News) new Leader.SettingsSnapshot(1, h.kit().getState().settings()));
    h.topic.fishForMessage(Duration.ofSeconds(3),
        m -> m.equals(snapshot) ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());

    h.node.leadershipLost(); // the right to act is gone (the lease ran out), before the watchdog has stepped down
    var refused = h.put("retention", "\"60d\"");
    assertTrue(refused.isError());
    assertEquals(Leader.NOT_LEADER, refused.getError().getMessage());
    assertEquals("\"30d\"", h.kit().getState().settings().get("retention").json(), "nothing was written");
  }

  /** The singleton manager's hand-over, which ends the actor: driven on a plain spawn, since it stops. */
  @Test
  void theStopMessageHandsOverStopsTheServicesFreesTheFenceAndTheNextLeaderJournalsTheRelease() throws Exception {
    Harness h = new Harness();
    var leader = testKit.spawn(Leader.create(h.deps));
    long epoch = awaitElected(leader).epoch();
    leader.tell(Leader.Stop.INSTANCE);
    testKit.createTestProbe().expectTerminated(leader, Duration.ofSeconds(10));
    assertTrue(h.rival.current().free(), "the fence is released, so the next leader need not wait for the lease");
    assertEquals("stop", h.service.calls.get(h.service.calls.size() - 1), "the services stopped: " + h.service.calls);
    assertFalse(h.node.isLeader());
    PersistenceTestKit journal = PersistenceTestKit.create(testKit.system());
    List<Object> written = journal.persistedInStorage(LeaderState.PERSISTENCE_ID);
    assertEquals(new LeaderEvent.LeaderElected(epoch, "node-1", null).getClass(),
        written.get(written.size() - 1).getClass(), "the old leader writes nothing on its way out: " + written);

    // the next leader, on another node and the same store, journals the release before its own election
    Harness next = new Harness("node-2", h.store);
    var second = testKit.spawn(Leader.create(next.deps));
    long nextEpoch = awaitElected(second).epoch();
    assertEquals(epoch + 1, nextEpoch, "the next epoch");
    List<Object> after = journal.persistedInStorage(LeaderState.PERSISTENCE_ID);
    List<Object> added = after.subList(written.size(), after.size());
    assertEquals(2, added.size(), "the release and the election: " + added);
    LeaderEvent.LeaderReleased released = (LeaderEvent.LeaderReleased) added.get(0);
    assertEquals(epoch, released.epoch());
    assertEquals("node-1", released.nodeId());
    assertEquals("hand-over", released.reason(), "the reason the old leader released the fence with");
    assertEquals(nextEpoch, ((LeaderEvent.LeaderElected) added.get(1)).epoch());
    assertEquals("node-2", ((LeaderEvent.LeaderElected) added.get(1)).nodeId());
    second.tell(Leader.Stop.INSTANCE);
    testKit.createTestProbe().expectTerminated(second, Duration.ofSeconds(10));
  }

  /** The next leader journals a release only when it is the journal's last election's, a hand-over, not yet there. */
  @Test
  void theNextLeaderJournalsOnlyAHandOverOfTheJournalsLastElection() {
    LeaderState last = new LeaderState(4, "node-1", java.time.Instant.EPOCH, false, 0, Map.of());
    Fence.Release handOver = new Fence.Release("node-1/abcd1234", 1000, "stop (SIGTERM)");
    var journaled = Leader.releasedBefore(last, lease(4, handOver));
    assertEquals(new LeaderEvent.LeaderReleased(4, "node-1", java.time.Instant.ofEpochMilli(1000), "stop (SIGTERM)"),
        journaled);
    assertEquals(null, Leader.releasedBefore(last, lease(4, null)), "the lease ran out: no release");
    assertEquals(null, Leader.releasedBefore(last, lease(4, new Fence.Release("node-1/abcd1234", 1000, ""))),
        "released without a reason: not a hand-over");
    assertEquals(null, Leader.releasedBefore(last, lease(5, handOver)), "an epoch the journal never elected");
    assertEquals(null, Leader.releasedBefore(last, lease(4, new Fence.Release("node-2/abcd1234", 1000, "x"))),
        "another node's release");
    assertEquals(null, Leader.releasedBefore(last.apply(journaled), lease(4, handOver)), "already journaled");
  }

  private static Fence.Lease lease(long priorEpoch, Fence.Release prior) {
    return new Fence.Lease(priorEpoch + 1, "node-2/00000000", 0, Duration.ofSeconds(1), priorEpoch, prior);
  }

  /** Asks a spawned leader for its status until it is elected (10 s at most). */
  private Leader.Status awaitElected(org.apache.pekko.actor.typed.ActorRef<Leader.Command> leader) {
    TestProbe<Leader.Status> status = testKit.createTestProbe();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    Leader.Status s;
    do {
      leader.tell(new Leader.GetStatus(status.ref()));
      s = status.receiveMessage();
      sleep(20);
    } while (!s.elected() && System.nanoTime() < deadline);
    assertTrue(s.elected(), "elected");
    return s;
  }

  @Test
  void aSingletonAdoptsTheFenceItsNodeTookOnTheReleasesNoticeInsteadOfTakingTheNextEpoch() throws Exception {
    Harness h = new Harness();
    Successor successor = new Successor(h.node, h.deps.fence(), h.deps.settings(), null, () -> true);
    Fence noticeConnection = new Fence(h.store, h.deps.settings().leaseTtl());
    try {
      successor.released(new dev.pmmha.persistence.fence.FenceNotices.Released("node-1", 0), noticeConnection::acquire);
      assertEquals(1, h.node.ownEpoch(), "the node answers for the epoch it took, before the singleton starts");
      var d = h.deps;
      var leader = testKit.spawn(Leader.create(new Leader.Deps(d.node(), d.topic(), d.fence(), d.services(), d.hook(),
          d.settings(), d.metrics(), successor)));
      assertEquals(1, awaitElected(leader).epoch(), "the singleton kept that epoch");
      assertEquals(1, h.rival.current().epoch(), "and did not take the fence again");
      assertEquals(List.of("start 1"), h.service.calls);
      sleep(h.deps.settings().leaseTtl().toMillis() * 2);
      assertTrue(h.node.mayAct(), "its lease is renewed (the keeper started on the notice is the leader's now)");
      assertEquals(1, h.rival.current().epoch());
    } finally {
      noticeConnection.close();
    }
  }

  @Test
  void aRestartRecoversTheSettingsAndTheNextElectionTakesAHigherEpoch() {
    Harness h = new Harness();
    h.awaitElected();
    assertTrue(h.put("a", "1").isSuccess());
    assertTrue(h.put("b", "2").isSuccess());
    h.kit().restart();
    LeaderState recovered = h.kit().getState();
    assertEquals(2, recovered.settingsVersion());
    assertEquals(Map.of("a", "1", "b", "2"), Map.of("a", recovered.settings().get("a").json(),
        "b", recovered.settings().get("b").json()));
    Leader.Status again = h.awaitElected();
    assertTrue(again.epoch() > 1, "a new incarnation leads with a new epoch: " + again.epoch());
    List<Long> elections = h.kit().persistenceTestKit().persistedInStorage(LeaderState.PERSISTENCE_ID).stream()
        .filter(e -> e instanceof LeaderEvent.LeaderElected).map(e -> ((LeaderEvent) e).epoch()).toList();
    assertEquals(List.of(1L, again.epoch()), elections, "one LeaderElected per leadership, epochs rising");
  }
}
