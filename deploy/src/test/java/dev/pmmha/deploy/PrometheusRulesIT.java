package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/prometheus/pmm-ha-alerts.yml, PMM's five HA alerts: valid for Prometheus ({@code promtool check rules}),
 * right on the cases of pmm-ha-alerts.test.yml ({@code promtool test rules}), each alert tested both firing and
 * silent, written on metrics and labels that a node really exports, and loaded by deploy/README.md's
 * Prometheus configuration.
 */
@Tag("integration")
class PrometheusRulesIT {

  static final Path DIR = Repo.DEPLOY.resolve("prometheus");
  static final Path RULES = DIR.resolve("pmm-ha-alerts.yml");
  static final Path TESTS = DIR.resolve("pmm-ha-alerts.test.yml");
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  static Path promtool() {
    Optional<Path> found = Tools.find("promtool");
    assumeTrue(found.isPresent(),
        "promtool is not installed (Debian package prometheus): the alert rules were not checked");
    return found.get();
  }

  @Test
  void promtoolAcceptsTheRulesAndTheirUnitTestsPass() {
    Path promtool = promtool();
    Tools.Result check = Tools.run(Tools.cmd(promtool, "check", "rules", RULES), Map.of(), DIR, 60);
    assertEquals(0, check.exitCode(), "promtool check rules:\n" + check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("SUCCESS: 5 rules found"), check.stdout());
    Tools.Result test = Tools.run(Tools.cmd(promtool, "test", "rules", TESTS), Map.of(), DIR, 120);
    assertEquals(0, test.exitCode(), "promtool test rules:\n" + test.stdout() + test.stderr());
  }

  @Test
  void theReadmesPrometheusConfigurationLoadsTheRules(@TempDir Path tmp) throws Exception {
    Path promtool = promtool();
    Matcher block = Pattern.compile("```yaml\n(# prometheus\\.yml\n.*?)```", Pattern.DOTALL)
        .matcher(Repo.read(Repo.DEPLOY.resolve("README.md")));
    assertTrue(block.find(), "deploy/README.md has a prometheus.yml block");
    String config = block.group(1);
    String shipped = "/etc/prometheus/pmm-ha-alerts.yml";
    assertTrue(config.contains(shipped), config);
    Path file = tmp.resolve("prometheus.yml");
    Files.writeString(file, config.replace(shipped, RULES.toString()));
    Tools.Result check = Tools.run(Tools.cmd(promtool, "check", "config", file), Map.of(), tmp, 60);
    assertEquals(0, check.exitCode(),
        "promtool check config of deploy/README.md's block:\n" + check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("SUCCESS: 5 rules found"), check.stdout());
  }

  @Test
  void everyAlertIsTestedFiringAndSilent() throws Exception {
    Set<String> alerts = new TreeSet<>();
    for (JsonNode group : YAML.readTree(RULES.toFile()).get("groups")) {
      for (JsonNode rule : group.get("rules")) {
        alerts.add(rule.get("alert").asText());
      }
    }
    assertEquals(Set.of("PMMHALeaderMissing", "PMMHASplitBrain", "PMMHALeaderFlapping", "PMMHANodeUnreachable",
        "PMMHAQuorumAtRisk"), alerts);
    Set<String> firing = new TreeSet<>();
    Set<String> silent = new TreeSet<>();
    for (JsonNode test : YAML.readTree(TESTS.toFile()).get("tests")) {
      for (JsonNode t : test.path("alert_rule_test")) {
        (t.get("exp_alerts").isEmpty() ? silent : firing).add(t.get("alertname").asText());
      }
    }
    assertEquals(alerts, firing, "alerts with a firing case");
    assertEquals(alerts, silent, "alerts with a silent case");
  }

  /** Metric name to its label names (without Prometheus's own job and instance), from exposition lines. */
  static Map<String, Set<String>> labelsByMetric(Iterable<String> lines) {
    Pattern p = Pattern.compile("^(pmm_ha_[a-z_]+)\\{([^}]*)\\}");
    Pattern label = Pattern.compile("([a-z_]+)=\"");
    Map<String, Set<String>> out = new TreeMap<>();
    for (String line : lines) {
      Matcher m = p.matcher(line);
      if (m.find()) {
        Set<String> names = out.computeIfAbsent(m.group(1), k -> new TreeSet<>());
        Matcher l = label.matcher(m.group(2));
        while (l.find()) {
          names.add(l.group(1));
        }
        names.removeAll(Set.of("job", "instance"));
      }
    }
    return out;
  }

  @Test
  void theRulesAndTheirTestSeriesUseTheMetricsANodeExports() throws Exception {
    String scrape = new PmmHaMetrics(new NodeState(true, 3, "pmm-ha-1")).scrapeMetrics();
    Map<String, Set<String>> exported = labelsByMetric(scrape.lines().toList());
    assertTrue(scrape.contains("\npmm_ha_expected_nodes{node_id=\"pmm-ha-1\"} 3.0\n"),
        "the cluster's size:\n" + scrape);

    Matcher used = Pattern.compile("pmm_ha_[a-z_]+").matcher(Repo.read(RULES));
    Set<String> inRules = new TreeSet<>();
    while (used.find()) {
      inRules.add(used.group());
    }
    assertFalse(inRules.isEmpty());
    for (String name : inRules) {
      assertTrue(exported.containsKey(name), name + " is used by the rules but not exported: " + exported.keySet());
    }

    java.util.List<String> series = new java.util.ArrayList<>();
    for (JsonNode test : YAML.readTree(TESTS.toFile()).get("tests")) {
      for (JsonNode s : test.path("input_series")) {
        series.add(s.get("series").asText());
      }
    }
    Map<String, Set<String>> inTests = labelsByMetric(series);
    assertEquals(inRules, inTests.keySet(), "the test series are of the metrics the rules use");
    inTests.forEach((name, labels) ->
        assertEquals(exported.get(name), labels, "labels of " + name + " in the test series, as a node exports them"));
  }
}
