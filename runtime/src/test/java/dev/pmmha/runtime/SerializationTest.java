package dev.pmmha.runtime;

import dev.pmmha.persistence.LeaderEvent;
import dev.pmmha.persistence.LeaderHistory;
import java.time.Instant;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Every message, event and state that crosses the network or goes to the journal round-trips through CBOR. */
class SerializationTest {

  static final ActorTestKit kit = ActorTestKit.create(PmmHaConfig.load(Map.of())
      .withFallback(com.typesafe.config.ConfigFactory.parseString("pekko.actor.provider = local")));

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  static void verify(Object o) {
    kit.serializationTestKit().verifySerialization(o, true);
  }

  @Test
  void leaderProtocol() {
    TestProbe<Leader.Status> probe = kit.createTestProbe();
    Instant t = Instant.parse("2026-11-24T01:02:03.456Z");
    verify(new Leader.GetStatus(probe.ref()));
    verify(new Leader.Status("n1", 3, t, true));
    verify(Leader.Stop.INSTANCE);
    verify(new Leader.Announcement("n1", 3, t));
  }

  @Test
  void leaderEventsAndState() {
    Instant t = Instant.parse("2026-11-24T01:02:03.456Z");
    verify(new LeaderEvent.LeaderElected(4, "n2", t));
    verify(new LeaderEvent.LeaderReleased(4, "n2", t));
    verify(new LeaderHistory(4, "n2", t, false));
    verify(LeaderHistory.empty());
  }
}
