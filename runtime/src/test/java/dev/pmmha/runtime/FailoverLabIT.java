package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The short failover lab: three real nodes in network namespaces, started through the image's entrypoint, behind
 * a real HAProxy (deploy/haproxy/pmm-ha-recommended.cfg) on a real PostgreSQL, under a steady client load; every
 * fault of bench/lab/faults.py injected once and healed. Asserts the safety properties on the lab's JSON: no two
 * nodes answered 200 at any instant the prober could see, no epoch went backwards, every acknowledged settings
 * write is readable on every node at the end of each fault, and the cluster was healthy within 60 s after each
 * heal. The timing targets are the benchmark's (bench/failover-lab), not this test's. A second run of the lab on a
 * store replicated by Patroni runs the faults that need it (faults.py's STORE_FAULTS: the primary fails over).
 *
 * <p>Needs root (namespaces, iptables): skipped otherwise. CI runs as root.
 */
@Tag("integration")
class FailoverLabIT {

  static final Path REPO = Path.of("").toAbsolutePath().getParent();
  static final Path OUT = Path.of("target", "failover-lab").toAbsolutePath();

  static boolean root() {
    try {
      Process p = new ProcessBuilder("id", "-u").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes()).trim();
      return p.waitFor() == 0 && out.equals("0");
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }

  @Test
  void noFaultMakesTwoLeadersLosesAnAcknowledgedWriteOrLeavesTheClusterUnhealthy() throws Exception {
    JsonNode result = runLab("short-lab", List.of(), OUT);
    assertEquals(List.of(), problems(result), "safety violations in the short lab; logs in " + OUT);
    Set<String> known = faultsTable("FAULTS");
    assertTrue(known.size() >= 13, "the faults table of bench/lab/faults.py: " + known);
    assertEquals(known, faultsRun(result), "every fault runs once");
  }

  /**
   * The store's own failover: the same lab on two PostgreSQL servers managed by Patroni (on etcd, synchronous
   * mode, Patroni's default timing), the primary's machine killed; every fault of faults.py's STORE_FAULTS once.
   */
  @Test
  void aPostgresFailoverByPatroniMakesNoTwoLeadersAndLosesNoAcknowledgedWrite() throws Exception {
    Path out = OUT.resolve("patroni");
    JsonNode result = runLab("patroni-lab", List.of("--store", "patroni"), out);
    assertEquals(List.of(), problems(result), "safety violations in the Patroni lab; logs in " + out);
    for (JsonNode r : result.path("results")) {
      assertTrue(r.path("store_failover_s").isNumber(),
          r.path("fault").asText() + ": Patroni never promoted the standby " + r.path("notes"));
    }
    Set<String> known = faultsTable("STORE_FAULTS");
    assertTrue(known.contains("pg-failover"), "the STORE_FAULTS table of bench/lab/faults.py: " + known);
    assertEquals(known, faultsRun(result), "every store fault runs once");
  }

  /** Runs bench/lab/lab.py once per fault with the recommended HAProxy config; its JSON result. */
  static JsonNode runLab(String name, List<String> extra, Path logdir) throws Exception {
    Assumptions.assumeTrue(root(),
        "the failover lab needs root (network namespaces, iptables, PostgreSQL as its own user): skipped");
    Path jar = NodeProcess.JAR.toAbsolutePath();
    assertTrue(Files.isRegularFile(jar), jar + " is missing: the lab runs the packaged jar");
    Files.createDirectories(logdir);
    Path json = OUT.resolve(name + ".json");
    Path log = OUT.resolve(name + ".out");
    Files.deleteIfExists(json);
    List<String> cmd = new ArrayList<>(List.of("python3", REPO.resolve("bench/lab/lab.py").toString(),
        "--runs", "1", "--configs", "pmm-ha-recommended", "--jar", jar.toString(), "--json", json.toString(),
        "--logdir", logdir.toString(), "--heal-timeout", "60"));
    cmd.addAll(extra);
    Process p = new ProcessBuilder(cmd).directory(REPO.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
    if (!p.waitFor(15, TimeUnit.MINUTES)) {
      p.destroy(); // SIGTERM: the lab tears its namespaces, processes and PostgreSQL down
      p.waitFor(60, TimeUnit.SECONDS);
      throw new AssertionError("the lab did not finish within 15 minutes; see " + log);
    }
    assertTrue(Files.isRegularFile(json), "the lab wrote no result (exit " + p.exitValue() + "); see " + log);
    JsonNode result = new ObjectMapper().readTree(json.toFile());
    assertTrue(result.path("complete").asBoolean(),
        "the lab ended early: " + result.path("error").asText() + "; see " + log);
    return result;
  }

  static List<String> problems(JsonNode result) {
    List<String> problems = new ArrayList<>();
    for (JsonNode r : result.path("results")) {
      String run = r.path("fault").asText();
      if (r.path("overlap_ms").asDouble() != 0) {
        problems.add(run + ": two nodes answered 200 at once for " + r.path("overlap_ms").asDouble() + " ms "
            + r.path("overlap_spans"));
      }
      if (r.path("epoch_backwards").asInt() != 0) {
        problems.add(run + ": an older epoch answered 200 after a newer one (" + r.path("epoch_backwards_ms") + " ms)");
      }
      if (r.path("lost_writes").asInt() != 0) {
        problems.add(run + ": " + r.path("lost_writes").asInt() + " acknowledged writes not readable on every node "
            + r.path("lost_examples"));
      }
      if (!r.path("healthy").asBoolean() || r.path("heal_s").isNull() || r.path("heal_s").asDouble() > 60) {
        problems.add(run + ": not healthy within 60 s after the heal " + r.path("notes"));
      }
    }
    return problems;
  }

  static Set<String> faultsRun(JsonNode result) {
    Set<String> faults = new HashSet<>();
    result.path("results").forEach(r -> faults.add(r.path("fault").asText()));
    return faults;
  }

  /** The fault names of one table of bench/lab/faults.py ({@code NAME = { "fault": ("label", fn), ... }}). */
  static Set<String> faultsTable(String table) throws IOException {
    String source = Files.readString(Path.of("..", "bench", "lab", "faults.py"));
    int start = source.indexOf("\n" + table + " = {");
    int end = source.indexOf("\n}", start);
    assertTrue(start >= 0 && end > start, "no " + table + " = { ... } table in bench/lab/faults.py");
    Set<String> known = new HashSet<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^\\s+\"([a-z0-9-]+)\": \\(\"")
        .matcher(source.substring(start, end));
    while (m.find()) {
      known.add(m.group(1));
    }
    return known;
  }
}
