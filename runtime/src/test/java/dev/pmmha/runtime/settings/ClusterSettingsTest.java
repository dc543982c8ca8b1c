package dev.pmmha.runtime.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.node.IntNode;
import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.leader.Leader;
import dev.pmmha.runtime.leader.LeaderState;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.pattern.StatusReply;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The write path on the node that takes a write, against a leader played by a probe. */
class ClusterSettingsTest {

  static ActorTestKit kit;

  @BeforeAll
  static void start() {
    kit = ActorTestKit.create();
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  /** The settings API of {@code node}, with {@code leader} as the leader singleton. */
  private static ClusterSettings settings(NodeState node, TestProbe<Leader.Command> leader, Duration timeout) {
    return new ClusterSettings(node, leader.ref(), kit.system(), timeout, new PmmHaMetrics(node));
  }

  private static Leader.SettingsSnapshot snapshot(long version, String key, String json) {
    return new Leader.SettingsSnapshot(version,
        Map.of(key, new LeaderState.Setting(json, version, Instant.parse("2026-12-02T00:00:00Z"), "node-1")));
  }

  @Test
  void aWriteIsAnsweredOnceThisNodesCopyHasItSoAReadHereAfterTheAnswerSeesIt() throws Exception {
    NodeState node = new NodeState(true, 3, "node-2");
    TestProbe<Leader.Command> leader = kit.createTestProbe();
    ClusterSettings settings = settings(node, leader, Duration.ofSeconds(5));
    CompletableFuture<SettingsApi.WriteAck> write = settings.put("k", IntNode.valueOf(1)).toCompletableFuture();
    Leader.PutSetting put = leader.expectMessageClass(Leader.PutSetting.class);
    assertEquals("1", put.json());
    put.replyTo().tell(StatusReply.success(new Leader.SettingWritten("k", 1, 4, true)));
    Thread.sleep(300);
    assertFalse(write.isDone(), "the leader has answered, but this node's copy does not have version 1 yet");
    node.settingsUpdated(snapshot(1, "k", "1")); // what Membership does when the leader's snapshot comes
    SettingsApi.WriteAck ack = write.get(2, TimeUnit.SECONDS);
    assertEquals(new SettingsApi.WriteAck("k", 1, 4, true), ack);
    node.settingsAnnounced(4, 1);
    assertEquals(1, settings.read().toCompletableFuture().get(1, TimeUnit.SECONDS).settings().get("k").value().asInt());
  }

  @Test
  void aWriteDuringAHandOverIsAskedAgainAndAnsweredEvenIfTheCopyIsLate() throws Exception {
    NodeState node = new NodeState(true, 3, "node-2");
    TestProbe<Leader.Command> leader = kit.createTestProbe();
    ClusterSettings settings = settings(node, leader, Duration.ofSeconds(1));
    CompletableFuture<SettingsApi.WriteAck> write = settings.delete("k").toCompletableFuture();
    leader.expectMessageClass(Leader.DeleteSetting.class).replyTo().tell(StatusReply.error(Leader.NOT_LEADER));
    // nothing was written: the same write goes to the (next) leader
    leader.expectMessageClass(Leader.DeleteSetting.class).replyTo()
        .tell(StatusReply.success(new Leader.SettingWritten("k", 7, 5, true)));
    // the copy never comes (a lost topic message): the persisted write is answered by the write's deadline
    SettingsApi.WriteAck ack = write.get(3, TimeUnit.SECONDS);
    assertEquals(7, ack.version());
    assertEquals(0, node.settings().version(), "the copy did not come");
  }

  @Test
  void aReadWaitsUntilTheCopyIsKnownCurrentAndFailsWhenItIsNotInTime() throws Exception {
    NodeState node = new NodeState(true, 3, "node-2");
    TestProbe<Leader.Command> leader = kit.createTestProbe();
    ClusterSettings settings = settings(node, leader, Duration.ofMillis(700));
    // just started: no leader has said which version is current
    var early = settings.read().toCompletableFuture();
    var failure = assertThrows(java.util.concurrent.ExecutionException.class, () -> early.get(3, TimeUnit.SECONDS));
    assertEquals(ClusterSettings.NOT_CURRENT, failure.getCause().getMessage());

    // a read made before the leader's snapshot and announcement comes is answered once both have come
    var waiting = settings.read().toCompletableFuture();
    node.settingsAnnounced(3, 2); // the leader says version 2 is current; the copy has 0
    assertFalse(waiting.isDone(), "the copy lacks versions 1 and 2");
    node.settingsUpdated(snapshot(2, "retention", "\"30d\""));
    assertEquals("30d", waiting.get(1, TimeUnit.SECONDS).settings().get("retention").value().asText());

    // the leader is lost: until the next one announces, the copy may lack an acknowledged write
    node.settingsLeaderLost();
    var duringFailover = settings.read().toCompletableFuture();
    Thread.sleep(200);
    assertFalse(duringFailover.isDone());
    node.settingsAnnounced(2, 5); // a late announcement of an older epoch says nothing
    assertFalse(duringFailover.isDone());
    node.settingsAnnounced(4, 2); // the next leader: version 2 is current
    assertEquals(2, duringFailover.get(1, TimeUnit.SECONDS).version());
  }

  @Test
  void theLeadersCopyIsAskedForAndItsSilenceIsA503NotAnAnswer() throws Exception {
    NodeState node = new NodeState(true, 3, "node-2");
    TestProbe<Leader.Command> leader = kit.createTestProbe();
    ClusterSettings settings = settings(node, leader, Duration.ofMillis(500));
    var asked = settings.latest().toCompletableFuture();
    leader.expectMessageClass(Leader.GetSettings.class).replyTo().tell(snapshot(3, "fresh", "true"));
    assertTrue(asked.get(1, TimeUnit.SECONDS).settings().get("fresh").value().asBoolean());
    var unanswered = settings.latest().toCompletableFuture();
    leader.expectMessageClass(Leader.GetSettings.class); // and no reply
    var failure = assertThrows(java.util.concurrent.ExecutionException.class, () -> unanswered.get(3, TimeUnit.SECONDS));
    assertInstanceOf(SettingsApi.NotCurrentException.class, failure.getCause());
  }
}
