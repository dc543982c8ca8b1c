package dev.pmmha.runtime;

import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.jobs.Job;
import dev.pmmha.runtime.leader.Leader;
import dev.pmmha.runtime.leader.LeaderEvent;
import dev.pmmha.runtime.leader.LeaderState;
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
    verify(new Leader.Announcement("n1", 3, t, 12));
    verify(new Leader.SettingsSnapshot(12, java.util.Map.of("a", new LeaderState.Setting("{\"x\":1}", 12, t, "n1"))));
    verify(new Leader.PutSetting("a", "1", kit.<org.apache.pekko.pattern.StatusReply<Leader.SettingWritten>>createTestProbe().ref()));
    verify(new Leader.DeleteSetting("a", kit.<org.apache.pekko.pattern.StatusReply<Leader.SettingWritten>>createTestProbe().ref()));
    verify(new Leader.GetSettings(kit.<Leader.SettingsSnapshot>createTestProbe().ref()));
    verify(new Leader.SettingWritten("a", 12, 3, true));
    verify(new Leader.StoreHealth("n1", false));
    verify(new Leader.SwitchoverAsked("n1", "n3", "n2"));
    verify(new Leader.HandOverOffer("n2", 4, "n1/ab12cd34", "stop (SIGTERM)",
        kit.<Leader.HandOverAccepted>createTestProbe().ref()));
    verify(new Leader.HandOverAccepted("n2/ef56ab78", kit.<Leader.News>createTestProbe().ref()));
    verify(new Leader.HandOverAccepted("", kit.<Leader.News>createTestProbe().ref()));
    verify(new Leader.FenceHandedOver("n2/ef56ab78", 5, 1764900000123L, 600));
  }

  /** The start's warm-up sends the hand-over's messages through the serializer both ways, and they come back. */
  @Test
  void theWarmUpRoundTripsTheHandOversMessages() {
    Warmup.handOverMessages(kit.system());
  }

  /** A release as rows written before the reason was recorded have it. */
  record ReleasedWithoutReason(long epoch, String nodeId, Instant at) implements dev.pmmha.persistence.CborSerializable {}

  @Test
  void aReleaseWrittenBeforeReasonsWereRecordedReadsWithoutOne() throws Exception {
    Instant t = Instant.parse("2026-11-24T01:02:03.456Z");
    var serialization = org.apache.pekko.serialization.SerializationExtension.get(kit.system());
    var old = new ReleasedWithoutReason(4, "n2", t);
    var serializer = (org.apache.pekko.serialization.SerializerWithStringManifest) serialization.findSerializerFor(old);
    byte[] row = serializer.toBinary(old);
    Object read = serializer.fromBinary(row, LeaderEvent.LeaderReleased.class.getName());
    org.junit.jupiter.api.Assertions.assertEquals(new LeaderEvent.LeaderReleased(4, "n2", t, null), read);
  }

  @Test
  void leaderEventsAndState() {
    Instant t = Instant.parse("2026-11-24T01:02:03.456Z");
    verify(new LeaderEvent.LeaderElected(4, "n2", t));
    verify(new LeaderEvent.LeaderReleased(4, "n2", t));
    verify(new LeaderEvent.LeaderReleased(4, "n2", t, "switchover to n3, asked on n1"));
    verify(new LeaderEvent.SettingChanged(4, "k", "[1,2]", 9, "n2", t));
    verify(new LeaderEvent.SettingRemoved(4, "k", 10, "n2", t));
    verify(new LeaderState(4, "n2", t, false, 9, java.util.Map.of("k", new LeaderState.Setting("[1,2]", 9, t, "n2"))));
    verify(LeaderState.empty());
  }

  @Test
  void jobProtocolEventsAndState() {
    Instant t = Instant.parse("2026-11-24T01:02:03.456Z");
    Job.Spec command = new Job.Spec(10_000, java.util.List.of("/bin/sh", "-c", "echo $PMM_HA_JOB_ID"), null, 30_000, false, null, null);
    Job.Spec action = new Job.Spec(1_500, null, "noop", 1_500, true, null, null);
    verify(new Job.Define(command, kit.<org.apache.pekko.pattern.StatusReply<Job.Defined>>createTestProbe().ref()));
    verify(new Job.Defined("j1", action, "n1"));
    verify(new Job.Remove(kit.<org.apache.pekko.pattern.StatusReply<Job.Removed>>createTestProbe().ref()));
    verify(new Job.Removed("j1", true));
    verify(Job.Wake.INSTANCE);
    verify(Job.Stop.INSTANCE);
    verify(new Job.JobDefined(command, t, "n1"));
    verify(new Job.JobDefined(action, t, "n2"));
    verify(new Job.JobRemoved(t, "n1"));
    verify(new Job.State(command, false));
    verify(new Job.State(null, true));
    verify(Job.State.empty());
    Job.Spec cron = new Job.Spec(0, null, "noop", 60_000, true, "*/5 * * * *", "Europe/Berlin");
    verify(new Job.JobDefined(cron, t, "n3"));
    verify(new Job.State(cron, false));
  }

  @Test
  void aJobDefinedBeforeCronExistedReadsAsAnIntervalJob() throws Exception {
    var system = kit.system();
    var serialization = org.apache.pekko.serialization.SerializationExtension.get(system);
    Job.JobDefined current = new Job.JobDefined(new Job.Spec(10_000, null, "noop", 10_000, false, null, null),
        Instant.parse("2026-11-24T01:02:03.456Z"), "n1");
    var serializer = (org.apache.pekko.serialization.SerializerWithStringManifest) serialization.findSerializerFor(current);
    // the event as the previous release wrote it: a spec without cron and timezone
    var mapper = org.apache.pekko.serialization.jackson.JacksonObjectMapperProvider.get(system)
        .getOrCreate("jackson-cbor", java.util.Optional.empty());
    byte[] old = mapper.writeValueAsBytes(Map.of("spec", Map.of("intervalMs", 10_000, "action", "noop",
        "timeoutMs", 10_000, "catchUp", false), "at", "2026-11-24T01:02:03.456Z", "node", "n1"));
    Object read = serializer.fromBinary(old, serializer.manifest(current));
    org.junit.jupiter.api.Assertions.assertEquals(current, read);
    long phase = Job.phase("j", 10_000);
    org.junit.jupiter.api.Assertions.assertEquals(phase + 10_000, ((Job.JobDefined) read).spec().tickAfter("j", phase));
  }

  /** Rows and messages written before the classes moved to packages by concern name the old classes. */
  @Test
  void journalRowsAndMessagesUnderTheOldClassNamesReadAsTheMovedClasses() throws Exception {
    var serialization = org.apache.pekko.serialization.SerializationExtension.get(kit.system());
    Instant t = Instant.parse("2026-11-24T01:02:03.456Z");
    Map<Object, String> written = new java.util.LinkedHashMap<>();
    written.put(new LeaderEvent.LeaderElected(3, "n1", t), "dev.pmmha.persistence.LeaderEvent$LeaderElected");
    written.put(new LeaderEvent.SettingChanged(3, "a", "1", 4, "n1", t), "dev.pmmha.persistence.LeaderEvent$SettingChanged");
    written.put(new LeaderState(3, "n1", t, false, 4, Map.of("a", new LeaderState.Setting("1", 4, t, "n1"))),
        "dev.pmmha.persistence.LeaderState");
    written.put(new Leader.Announcement("n1", 3, t, 4), "dev.pmmha.runtime.Leader$Announcement");
    written.put(new Job.JobRemoved(t, "n2"), "dev.pmmha.runtime.Job$JobRemoved");
    written.put(Job.State.empty(), "dev.pmmha.runtime.Job$State");
    for (var w : written.entrySet()) {
      var serializer = (org.apache.pekko.serialization.SerializerWithStringManifest) serialization.findSerializerFor(w.getKey());
      org.junit.jupiter.api.Assertions.assertEquals(w.getKey(),
          serializer.fromBinary(serializer.toBinary(w.getKey()), w.getValue()), w.getValue());
    }
  }
}
