package dev.pmmha.runtime.leader.services;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.runtime.leader.LeaderSettings;
import dev.pmmha.runtime.leader.spi.ActingRight;
import dev.pmmha.runtime.leader.spi.LeaderContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RoleFileLeaderServiceTest {

  static Config config(Path file, String lease, String refresh) {
    return ConfigFactory.parseMap(Map.of("name", "role-file", "path", file.toString(), "node-id", "pmm-2",
        "lease", lease, "refresh", refresh));
  }

  static Map<String, String> read(Path file) throws IOException {
    Map<String, String> m = new HashMap<>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      m.put(line.substring(0, eq), line.substring(eq + 1));
    }
    return m;
  }

  @Test
  void saysFollowerFromTheStartLeaderWithALeaseWhileItMayActAndFollowerAgainOnStop(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("role");
    AtomicLong clock = new AtomicLong(1_000_000);
    AtomicLong nanos = new AtomicLong(5_000_000_000L);
    RoleFileLeaderService s = new RoleFileLeaderService(config(file, "400ms", "50ms"), clock::get, nanos::get);
    assertEquals("follower", read(file).get("role"));
    assertEquals("pmm-2", read(file).get("node"));

    AtomicBoolean mayAct = new AtomicBoolean(true);
    // the right to act runs 1.5 s beyond now: the file's lease is that plus the margin less the guard (400 ms)
    AtomicLong actUntil = new AtomicLong(nanos.get() + 1_500_000_000L);
    s.start(new LeaderContext("pmm-2", 7, new ActingRight(mayAct::get, actUntil::get), e -> {}));
    Map<String, String> first = read(file);
    assertEquals("leader", first.get("role"));
    assertEquals("7", first.get("epoch"));
    assertEquals(1_001_900L, Long.parseLong(first.get("lease_until_ms")),
        "the lease runs to the act-until instant plus the margin less the guard");

    // 1.2 s later, no renewal of the fence: 300 ms of the right left, so 700 ms of lease from the new now
    clock.addAndGet(1_200);
    nanos.addAndGet(1_200_000_000L);
    Thread.sleep(120); // two refreshes: the end does not move without a renewal of the fence
    assertEquals(1_001_900L, Long.parseLong(read(file).get("lease_until_ms")));
    // renewed: the right moves 1 s ahead again
    actUntil.set(nanos.get() + 1_000_000_000L);
    awaitLease(file, clock.get() + 1_400L);
    // an act-until already behind the clock counts as nothing left: the lease alone (never shorter)
    actUntil.set(nanos.get() - 50_000_000L);
    awaitLease(file, clock.get() + 400L);

    // may not act: the lease is not renewed, it runs out by itself
    mayAct.set(false);
    Thread.sleep(100); // a renewal that was under way when mayAct turned lands within one period
    long frozen = Long.parseLong(read(file).get("lease_until_ms"));
    clock.addAndGet(1_000);
    Thread.sleep(200);
    assertEquals(frozen, Long.parseLong(read(file).get("lease_until_ms")), "no renewal while it may not act");
    assertEquals("leader", read(file).get("role"));

    mayAct.set(true);
    awaitLease(file, clock.get() + 400);
    s.stop();
    Map<String, String> after = read(file);
    assertEquals("follower", after.get("role"));
    assertEquals("0", after.get("lease_until_ms"));
    Thread.sleep(150);
    assertEquals("follower", read(file).get("role"), "no renewal after stop");
    try (var files = Files.list(dir)) {
      assertEquals(1, files.count(), "the temp file was renamed, not left behind");
    }
  }

  static void awaitLease(Path file, long until) throws Exception {
    long deadline = System.nanoTime() + 2_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (Long.parseLong(read(file).get("lease_until_ms")) == until) {
        return;
      }
      Thread.sleep(10);
    }
    throw new AssertionError("lease_until_ms never became " + until + ": " + read(file));
  }

  @Test
  void aFileInAMissingDirectoryIsAConfigurationErrorNamingTheVariable(@TempDir Path dir) {
    SettingsException e = assertThrows(SettingsException.class,
        () -> new RoleFileLeaderService(config(dir.resolve("nope/role"), "400ms", "100ms")));
    assertTrue(e.getMessage().contains("PMM_HA_ROLE_FILE"), e.getMessage());
  }

  @Test
  void theLeaseIsTheSafetyMarginLessTheGuard(@TempDir Path dir) {
    Config root = ConfigFactory.parseString("pmm-ha.leader { role-file = \"" + dir.resolve("role")
            + "\", lease-ttl = 2s, lease-safety-margin = 700ms, role-file-guard = 150ms }")
        .withFallback(ConfigFactory.defaultReference()).resolve();
    LeaderSettings settings = LeaderSettings.create(root);
    Config service = settings.services().stream().filter(c -> c.getString("name").equals("role-file"))
        .findFirst().orElseThrow();
    assertEquals(550, service.getDuration("lease").toMillis());
    assertEquals(RoleFileLeaderService.class.getName(), service.getString("class"));

    Config tooBig = ConfigFactory.parseString("pmm-ha.leader { role-file = \"" + dir.resolve("role")
            + "\", lease-safety-margin = 100ms, role-file-guard = 100ms }")
        .withFallback(ConfigFactory.defaultReference()).resolve();
    SettingsException e = assertThrows(SettingsException.class,
        () -> LeaderSettings.create(tooBig).instantiateServices(tooBig.getConfig("pmm-ha.leader.service-defaults")));
    assertTrue(e.getMessage().contains("PMM_HA_LEASE_SAFETY_MARGIN"), e.getMessage());
  }
}
