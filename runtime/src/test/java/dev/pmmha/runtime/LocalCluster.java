package dev.pmmha.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.leader.LeaderEvent;
import dev.pmmha.runtime.leader.LeaderState;
import dev.pmmha.testkit.PostgresServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Down;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.EventEnvelope;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * In-JVM cluster harness in the MicroRaft style: {@code LocalCluster.start(3, db)}, {@link #waitForLeader},
 * {@link #leave}, {@link #down}, and a firewall: {@link #partition} and {@link #heal} cut and restore the links
 * between nodes (Artery's test mode drops their traffic, as a network cut would). Each node is a full {@link PmmHaNode} (its own ActorSystem, HTTP routes and
 * store pool) on 127.0.0.1 with its own ports; the nodes are joined by hand instead of through Bootstrap.
 * Leadership is read from the HTTP endpoints, as HAProxy would.
 */
public final class LocalCluster implements AutoCloseable {

  public record Node(String id, int gossipPort, int httpPort, PmmHaNode node) {
    public String url(String path) {
      String host = node.http().bindAddress();
      return "http://" + (host.equals("0.0.0.0") ? "127.0.0.1" : host) + ":" + httpPort + path;
    }
  }

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<Node> nodes = new ArrayList<>();
  private final List<Node> stopped = new ArrayList<>();

  private LocalCluster() {}

  public static LocalCluster start(int size, PostgresServer pg, String jdbcUrl) {
    return start(size, pg, jdbcUrl, id -> Map.of(), com.typesafe.config.ConfigFactory.empty());
  }

  /**
   * @param extraEnv more environment for each node, by node id (for example PMM_HA_ON_ROLE_CHANGE)
   * @param extraConfig configuration over the application config (for example leader services)
   */
  public static LocalCluster start(int size, PostgresServer pg, String jdbcUrl,
      java.util.function.Function<String, Map<String, String>> extraEnv, com.typesafe.config.Config extraConfig) {
    LocalCluster c = new LocalCluster();
    List<Integer> gossip = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      gossip.add(PostgresServer.freePort());
    }
    List<Map<String, String>> extras = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      extras.add(extraEnv.apply("node-" + (i + 1)));
    }
    // a node may advertise another loopback address (127.0.0.2, ...) through extraEnv; the peers follow it
    String peers = java.util.stream.IntStream.range(0, size)
        .mapToObj(i -> extras.get(i).getOrDefault("PMM_HA_ADVERTISE_ADDRESS", "127.0.0.1") + ":" + gossip.get(i))
        .collect(Collectors.joining(","));
    for (int i = 0; i < size; i++) {
      int httpPort = PostgresServer.freePort();
      Map<String, String> env = new HashMap<>();
      env.put("PMM_HA_ENABLE", "1");
      env.put("PMM_HA_NODE_ID", "node-" + (i + 1));
      env.put("PMM_HA_ADVERTISE_ADDRESS", "127.0.0.1");
      env.put("PMM_HA_BIND_ADDRESS", "127.0.0.1");
      env.put("PMM_HA_GOSSIP_PORT", String.valueOf(gossip.get(i)));
      env.put("PMM_HA_RAFT_PORT", String.valueOf(PostgresServer.freePort()));
      env.put("PMM_HA_HTTP_PORT", String.valueOf(httpPort));
      // nodes share one address: each its own probe port, not the default 8079
      env.put("PMM_HA_PROBE_PORT", String.valueOf(PostgresServer.freePort()));
      env.put("PMM_HA_PEERS", peers);
      env.put("PMM_HA_STORE_URL", jdbcUrl);
      env.put("PMM_POSTGRES_USERNAME", pg.user());
      env.put("PMM_POSTGRES_DBPASSWORD", pg.password());
      // Three nodes in one JVM pause together (GC, a busy test machine) and then all see each other's heartbeats
      // late: with the production timing they down each other and step down now and then on a loaded two-core
      // machine. These tests are about what happens, not how fast, so they run with slower timing; separate
      // processes (the *IT tests and the failover lab) run with the production settings.
      env.put("PMM_HA_FAILURE_DETECTOR_INTERVAL", "200ms");
      env.put("PMM_HA_FAILURE_DETECTOR_PAUSE", "2s");
      env.put("PMM_HA_SBR_STABLE_AFTER", "1s");
      env.put("PMM_HA_DOWN_REMOVAL_MARGIN", "300ms");
      env.put("PMM_HA_LEASE_TTL", "3s");
      env.put("PMM_HA_LEASE_RENEW_INTERVAL", "500ms");
      env.put("PMM_HA_LEASE_SAFETY_MARGIN", "1s");
      env.putAll(extras.get(i));
      PmmHaNode node = PmmHaNode.start(extraConfig.withFallback(FIREWALL).withFallback(PmmHaConfig.load(env)).resolve(),
          PmmHaNode.Formation.MANUAL);
      c.nodes.add(new Node("node-" + (i + 1), gossip.get(i), httpPort, node));
    }
    var firstAddress = Cluster.get(c.nodes.get(0).node().system()).selfMember().address();
    for (Node n : c.nodes) {
      Cluster.get(n.node().system()).manager().tell(Join.create(firstAddress));
    }
    return c;
  }

  /** Artery's test mode: lets {@link #partition} drop the traffic between two nodes. */
  private static final com.typesafe.config.Config FIREWALL =
      com.typesafe.config.ConfigFactory.parseString("pekko.remote.artery.advanced.test-mode = on");

  /** Cuts every link between {@code side} and the other running nodes, both ways: no message passes. */
  public void partition(Node... side) {
    firewall(List.of(side), org.apache.pekko.remote.transport.ThrottlerTransportAdapter.blackholeThrottleMode());
  }

  /** Restores the links {@link #partition} cut. */
  public void heal(Node... side) {
    firewall(List.of(side), org.apache.pekko.remote.transport.ThrottlerTransportAdapter.unthrottledThrottleMode());
  }

  private void firewall(List<Node> side, org.apache.pekko.remote.transport.ThrottlerTransportAdapter.ThrottleMode mode) {
    for (Node a : side) {
      for (Node b : nodes) {
        if (side.contains(b)) {
          continue;
        }
        cut(a, b, mode);
        cut(b, a, mode);
      }
    }
  }

  private static void cut(Node from, Node to, org.apache.pekko.remote.transport.ThrottlerTransportAdapter.ThrottleMode mode) {
    var classic = org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(from.node().system());
    var toAddress = Cluster.get(to.node().system()).selfMember().address();
    var rarp = (org.apache.pekko.remote.RARP) org.apache.pekko.remote.RARP.get(classic);
    try {
      scala.concurrent.Await.result(rarp.provider().transport().managementCommand(
          new org.apache.pekko.remote.transport.ThrottlerTransportAdapter.SetThrottle(toAddress,
              org.apache.pekko.remote.transport.ThrottlerTransportAdapter.bothDirection(), mode)),
          scala.concurrent.duration.Duration.create(5, TimeUnit.SECONDS));
    } catch (Exception e) {
      throw new IllegalStateException("cannot set the firewall from " + from.id() + " to " + to.id(), e);
    }
  }

  public List<Node> running() {
    return List.copyOf(nodes);
  }

  /** The nodes whose leader health check answers 200 right now. */
  public List<Node> leaders() {
    List<Node> out = new ArrayList<>();
    for (Node n : nodes) {
      if (status(n, "POST", "/v1/leaderHealthCheck") == 200) {
        out.add(n);
      }
    }
    return out;
  }

  /** Waits until {@code n} sees {@code count} members Up: a formed cluster, not one still being joined. */
  public static void waitForUp(Node n, int count, Duration timeout) {
    eventually(timeout, () -> {
      long up = 0;
      for (var m : org.apache.pekko.cluster.Cluster.get(n.node().system().classicSystem()).state().getMembers()) {
        up += m.status() == org.apache.pekko.cluster.MemberStatus.up() ? 1 : 0;
      }
      return up == count ? true : null;
    }, n.id() + " sees " + count + " members Up");
  }

  /** Waits until exactly one node answers 200 and returns it. */
  public Node waitForLeader(Duration timeout) {
    return eventually(timeout, () -> {
      List<Node> l = leaders();
      return l.size() == 1 ? l.get(0) : null;
    }, "exactly one node answering 200");
  }

  public JsonNode json(Node n, String path) {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(n.url(path))).timeout(Duration.ofSeconds(2)).build(),
          HttpResponse.BodyHandlers.ofString());
      return JSON.readTree(r.body());
    } catch (Exception e) {
      throw new IllegalStateException("GET " + path + " on " + n.id() + ": " + e, e);
    }
  }

  /** PUT of a JSON body; returns status and body. */
  public static HttpResponse<String> put(Node n, String path, String json) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create(n.url(path))).timeout(Duration.ofSeconds(10))
          .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(json)).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException("PUT " + path + " on " + n.id() + ": " + e, e);
    }
  }

  public static int status(Node n, String method, String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create(n.url(path))).timeout(Duration.ofSeconds(2))
              .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  /** Graceful leave: coordinated shutdown of the node's actor system, as SIGTERM does. */
  public void leave(Node n) {
    n.node().system().terminate();
    awaitTermination(n);
  }

  /** Another member downs the node, as the split brain resolver does for a crashed one. */
  public void down(Node n, Node by) {
    var address = Cluster.get(n.node().system()).selfMember().address();
    Cluster.get(by.node().system()).manager().tell(new Down(address));
    awaitTermination(n);
  }

  private void awaitTermination(Node n) {
    try {
      n.node().system().getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(n.id() + " did not stop within 30 s", e);
    }
    nodes.remove(n);
    stopped.add(n);
  }

  /**
   * The leader history as journaled, read back through Pekko Persistence Query on a running node. A read that fails
   * is tried again for up to 30 s (each try bounded to 10 s): after the store failed over, a node's pool may still
   * hold a connection to the old server, which fails one read; what is read is never relaxed.
   */
  public List<LeaderEvent> journal() {
    var last = new java.util.concurrent.atomic.AtomicReference<Exception>();
    try {
      return eventually(Duration.ofSeconds(30), () -> {
        // through a node that still runs: one downed during the test (a store failover, a step aside) has shut
        // its actor system down, and a read through it fails at once ("materializer has been shutdown")
        var system = nodes.stream().map(n -> n.node().system())
            .filter(s -> !s.whenTerminated().isCompleted()).findFirst().orElse(null);
        if (system == null) {
          last.set(new IllegalStateException("every node's actor system has terminated"));
          return null;
        }
        var query = PersistenceQuery.get(system).getReadJournalFor(
            org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal.class, JdbcReadJournal.Identifier());
        try {
          return query.currentEventsByPersistenceId(LeaderState.PERSISTENCE_ID, 0, Long.MAX_VALUE)
              .map(EventEnvelope::event).map(LeaderEvent.class::cast)
              .runWith(Sink.seq(), system).toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt(); // eventually's wait then ends the loop
          last.set(e);
          return null;
        } catch (Exception e) {
          System.out.println("journal read failed, trying again: " + e);
          last.set(e);
          return null;
        }
      }, "the journal read back");
    } catch (AssertionError gaveUp) {
      throw new IllegalStateException("cannot read the journal: " + last.get(), last.get());
    }
  }

  public static <T> T eventually(Duration timeout, Supplier<T> probe, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      T v = probe.get();
      if (v != null) {
        return v;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }
  }

  @Override
  public void close() {
    for (Node n : List.copyOf(nodes)) {
      n.node().system().terminate();
    }
    for (Node n : List.copyOf(nodes)) {
      try {
        n.node().system().getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        System.err.println(n.id() + " did not stop: " + e);
      }
    }
    nodes.clear();
  }
}
