package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.SettingsException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CrashWatchTest {

  @Test
  void aListeningPortAcceptsAndAClosedOneRefuses() throws Exception {
    int port;
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      port = server.getLocalPort();
      assertEquals(CrashWatch.Outcome.ACCEPTED, CrashWatch.connect("127.0.0.1", port, Duration.ofMillis(500)));
    }
    // the process behind the port is gone: the kernel answers with a reset
    assertEquals(CrashWatch.Outcome.REFUSED, CrashWatch.connect("127.0.0.1", port, Duration.ofMillis(500)));
  }

  @Test
  void aStalledProcessWhoseKernelStopsAnsweringIsNoCrash() throws Exception {
    // a server that never accepts (a paused or starved process): the kernel accepts into the backlog, then drops
    // further SYNs once it is full, so the connect times out; it must never look like a refusal
    java.util.List<java.net.Socket> held = new java.util.ArrayList<>();
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      int port = server.getLocalPort();
      CrashWatch.Outcome last = CrashWatch.Outcome.ACCEPTED;
      for (int i = 0; i < 20 && last == CrashWatch.Outcome.ACCEPTED; i++) {
        java.net.Socket s = new java.net.Socket();
        held.add(s);
        try {
          s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 200);
        } catch (java.net.SocketTimeoutException e) {
          last = CrashWatch.Outcome.NO_ANSWER;
        }
      }
      assertEquals(CrashWatch.Outcome.NO_ANSWER, last, "the backlog never filled");
      assertEquals(CrashWatch.Outcome.NO_ANSWER, CrashWatch.connect("127.0.0.1", port, Duration.ofMillis(200)));
    } finally {
      for (java.net.Socket s : held) {
        s.close();
      }
    }
  }

  @Test
  void onlyRefusalsInARowCount() {
    int n = CrashWatch.decide(0, CrashWatch.Outcome.REFUSED);
    n = CrashWatch.decide(n, CrashWatch.Outcome.REFUSED);
    assertEquals(2, n);
    assertEquals(0, CrashWatch.decide(n, CrashWatch.Outcome.NO_ANSWER), "silence is the failure detector's case");
    assertEquals(0, CrashWatch.decide(n, CrashWatch.Outcome.ACCEPTED), "a port that accepts again is alive");
  }

  @Test
  void aSilentMemberIsDownedOnlyOnceItsLeaseOnTheFenceHasRunOut() {
    var running = new dev.pmmha.persistence.fence.Fence.State(7, "node-1/ab12cd34", 120, false);
    var expired = new dev.pmmha.persistence.fence.Fence.State(7, "node-1/ab12cd34", -5, false);
    var released = new dev.pmmha.persistence.fence.Fence.State(7, "node-1/ab12cd34", 900, true);
    assertFalse(CrashWatch.lostLeader("node-1", running), "its lease still runs: it may be acting");
    assertTrue(CrashWatch.lostLeader("node-1", expired));
    assertTrue(CrashWatch.lostLeader("node-1", released));
    assertFalse(CrashWatch.lostLeader("node-2", expired), "a silent member that does not hold the fence");
    assertFalse(CrashWatch.lostLeader("node-1", new dev.pmmha.persistence.fence.Fence.State(7, "node-10/ab12cd34",
        -5, false)), "node-10 is not node-1");
    assertFalse(CrashWatch.lostLeader("node-1", null), "the store did not answer");
    assertTrue(CrashWatch.mayLead("node-1", ""), "no leader known yet");
    assertTrue(CrashWatch.mayLead("node-1", "node-1"));
    assertFalse(CrashWatch.mayLead("node-1", "node-2"), "another node is known to lead: the fence is not read");
  }

  @Test
  void aLeaderIsCutOffOnlyWhenItHearsLessThanHalfTheCluster() {
    assertTrue(CrashWatch.inMinority(2, 2), "three nodes, both peers silent");
    assertFalse(CrashWatch.inMinority(2, 1), "three nodes, one peer still heard: two of three");
    assertFalse(CrashWatch.inMinority(1, 1), "two nodes: half is no minority (the other may be the one lost)");
    assertTrue(CrashWatch.inMinority(4, 3), "five nodes, it hears one peer: two of five");
    assertFalse(CrashWatch.inMinority(4, 2), "five nodes, it hears two peers: three of five");
    assertFalse(CrashWatch.inMinority(0, 0), "alone");
  }

  @Test
  void settingsHaveDefaultsAndBadValuesAreOneLineErrors() {
    CrashWatch.Settings s = CrashWatch.Settings.from(ConfigFactory.load());
    assertTrue(s.enabled());
    assertEquals(Duration.ofMillis(50), s.interval());
    assertEquals(2, s.confirmations());
    assertEquals(3, s.isolationConfirmations());
    SettingsException bad = assertThrows(SettingsException.class, () -> CrashWatch.Settings.from(
        ConfigFactory.parseString("pmm-ha.crash-watch.confirmations = 0").withFallback(ConfigFactory.load())));
    assertTrue(bad.getMessage().contains("pmm-ha.crash-watch.confirmations"), bad.getMessage());
    SettingsException off = assertThrows(SettingsException.class, () -> CrashWatch.Settings.from(
        ConfigFactory.parseString("pmm-ha.crash-watch.enabled = maybe").withFallback(ConfigFactory.load())));
    assertTrue(off.getMessage().contains("PMM_HA_CRASH_WATCH"), off.getMessage());
  }
}
