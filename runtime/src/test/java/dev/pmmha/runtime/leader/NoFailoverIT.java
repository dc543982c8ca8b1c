package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.runtime.WithPostgres;
import dev.pmmha.runtime.cluster.NodeState;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** PMM_HA_NOFAILOVER (Patroni's nofailover tag) on three in-JVM nodes and real PostgreSQL. */
@Tag("integration")
class NoFailoverIT extends WithPostgres {

  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private static String get(LocalCluster.Node n, String path) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(n.url(path))).build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  private static String metric(LocalCluster.Node n, String name) throws Exception {
    return get(n, "/metrics").lines().filter(l -> l.startsWith(name + "{")).findFirst().orElse("missing " + name);
  }

  @Test
  void aNodeWithNofailoverNeverLeadsNotAsTheOldestMemberAndNotAsTheLastOnes() throws Exception {
    // node-1 joins first (the oldest member, where the singleton would run) and node-3 never lead: node-2 must
    Set<String> nofailover = Set.of("node-1", "node-3");
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase(),
        id -> nofailover.contains(id) ? Map.of("PMM_HA_NOFAILOVER", "true") : Map.of(),
        com.typesafe.config.ConfigFactory.empty())) {
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.waitForUp(n, 3, Duration.ofSeconds(60));
      }
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      assertEquals("node-2", leader.id());
      LocalCluster.Node first = c.running().get(0);
      LocalCluster.Node third = c.running().get(2);

      // shown as a member like any other, with its tag
      JsonNode nodes = c.json(first, "/v1/ha/nodes").get("nodes");
      assertEquals(3, nodes.size(), nodes.toString());
      for (JsonNode n : nodes) {
        assertEquals(nofailover.contains(n.get("node_name").asText()), n.get("nofailover").asBoolean(), nodes.toString());
        assertEquals("alive", n.get("status").asText(), nodes.toString());
      }
      assertTrue(metric(first, "pmm_ha_members_may_lead").endsWith(" 1.0"), metric(first, "pmm_ha_members_may_lead"));
      assertEquals("ready", c.json(first, "/v1/readyz").get("reason").asText());
      // it serves reads and forwards writes
      var written = LocalCluster.put(first, "/v1/ha/settings/from.nofailover", "1");
      assertEquals(200, written.statusCode(), written.body());
      assertEquals(1, c.json(first, "/v1/ha/settings/from.nofailover").get("value").asInt());

      // a switchover to it is refused with the reason, and nothing changes
      var refused = HTTP.send(HttpRequest.newBuilder(URI.create(leader.url("/v1/ha/switchover")))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"candidate\":\"node-1\"}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(409, refused.statusCode(), refused.body());
      assertTrue(refused.body().contains("node-1 may not lead: it runs with PMM_HA_NOFAILOVER=true"), refused.body());
      // and with no candidate there is nobody to go to
      var nobody = HTTP.send(HttpRequest.newBuilder(URI.create(leader.url("/v1/ha/switchover")))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(409, nobody.statusCode(), nobody.body());
      assertTrue(nobody.body().contains("no other Up member may lead"), nobody.body());
      assertEquals(leader, c.waitForLeader(Duration.ofSeconds(5)));

      // the only node that may lead leaves: the two left are a majority, and neither leads
      c.leave(leader);
      LocalCluster.eventually(Duration.ofSeconds(30),
          () -> NodeState.NOBODY_MAY_LEAD.equals(c.json(first, "/v1/readyz").path("reason").asText()) ? true : null,
          "node-1's readiness says that no member may lead");
      long until = System.nanoTime() + Duration.ofSeconds(8).toNanos(); // more than the lease TTL (3 s) and then some
      while (System.nanoTime() < until) {
        assertEquals(List.of(), c.leaders(), "a node with PMM_HA_NOFAILOVER answers the leader check");
        Thread.sleep(200);
      }
      assertEquals(503, LocalCluster.status(third, "GET", "/v1/readyz"));
      assertTrue(metric(third, "pmm_ha_members_may_lead").endsWith(" 0.0"), metric(third, "pmm_ha_members_may_lead"));
      var write = LocalCluster.put(third, "/v1/ha/settings/k", "2");
      assertEquals(503, write.statusCode(), "no leader takes the write: " + write.body());
      // only node-2 ever held an epoch
      for (LeaderEvent e : c.journal()) {
        if (e instanceof LeaderEvent.LeaderElected elected) {
          assertEquals("node-2", elected.nodeId(), c.journal().toString());
        }
      }
    }
  }
}
