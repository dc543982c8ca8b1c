package dev.pmmha.http.routes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.HttpServer;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.http.api.ClusterView;
import dev.pmmha.http.api.LeaderView;
import dev.pmmha.http.api.NodeControl;
import dev.pmmha.http.api.Observability;
import dev.pmmha.http.api.SettingsApi;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

public class HaRoutesTest {

  /** Views the test flips by hand. */
  public static final class FakeViews implements LeaderView, ClusterView, SettingsApi {
    public volatile boolean leader;
    public volatile long epoch = 7;
    volatile boolean noLeader;
    final java.util.Map<String, Setting> store = new java.util.concurrent.ConcurrentHashMap<>();
    final java.util.concurrent.atomic.AtomicLong version = new java.util.concurrent.atomic.AtomicLong();

    @Override public long ownEpoch() { return epoch; }
    /** Reads from a copy that is not known to be current (a node that just started). */
    volatile boolean notCurrent;
    /** This node's copy lags: it has none of the writes (they were acknowledged elsewhere a moment ago). */
    volatile boolean lagging;
    @Override public java.util.concurrent.CompletionStage<Snapshot> latest() {
      return notCurrent
          ? java.util.concurrent.CompletableFuture.failedFuture(new NotCurrentException("copy not known current"))
          : java.util.concurrent.CompletableFuture.completedFuture(new Snapshot(version.get(), java.util.Map.copyOf(store)));
    }
    @Override public java.util.concurrent.CompletionStage<Snapshot> read() {
      if (lagging) {
        return java.util.concurrent.CompletableFuture.completedFuture(Snapshot.EMPTY);
      }
      return notCurrent
          ? java.util.concurrent.CompletableFuture.failedFuture(new NotCurrentException("copy not known current"))
          : java.util.concurrent.CompletableFuture.completedFuture(new Snapshot(version.get(), java.util.Map.copyOf(store)));
    }
    /** Writes that never get an answer (a leader that never replies). */
    volatile boolean hangWrites;

    @Override public java.util.concurrent.CompletionStage<WriteAck> put(String key, JsonNode value) {
      if (hangWrites) {
        return new java.util.concurrent.CompletableFuture<>();
      }
      if (noLeader) {
        return java.util.concurrent.CompletableFuture.failedFuture(new NoLeaderException("no leader answered within 5 s"));
      }
      long v = version.incrementAndGet();
      store.put(key, new Setting(key, value, v, Instant.parse("2026-11-24T00:00:00Z"), "a"));
      return java.util.concurrent.CompletableFuture.completedFuture(new WriteAck(key, v, epoch, true));
    }
    @Override public java.util.concurrent.CompletionStage<WriteAck> delete(String key) {
      boolean existed = store.remove(key) != null;
      return java.util.concurrent.CompletableFuture.completedFuture(new WriteAck(key, version.get(), epoch, existed));
    }
    public volatile boolean ha = true;
    volatile LeaderInfo known;
    volatile Readiness readiness = Readiness.notReady("not Up in the cluster (status Joining)");

    public volatile java.util.concurrent.CompletableFuture<Void> settled = java.util.concurrent.CompletableFuture.completedFuture(null);

    @Override public boolean isLeader() { return leader; }
    @Override public java.util.concurrent.CompletionStage<Void> handOverSettled() { return settled; }
    @Override public Optional<LeaderInfo> currentLeader() { return Optional.ofNullable(known); }
    @Override public boolean haEnabled() { return ha; }
    @Override public List<NodeStatus> nodes() {
      return List.of(new NodeStatus("a", "NODE_ROLE_LEADER", "alive", "x", false), new NodeStatus("b", "NODE_ROLE_FOLLOWER", "suspect", "y", true));
    }
    @Override public int expectedNodes() { return 3; }
    volatile String namespace = "";
    @Override public String namespace() { return namespace; }
    @Override public Readiness readiness() { return readiness; }
  }

  static ActorTestKit kit;
  static FakeViews views = new FakeViews();
  static String base;
  static final HttpClient client = HttpClient.newHttpClient();

  @BeforeAll
  static void bind() throws Exception {
    kit = ActorTestKit.create();
    // bound as the runtime binds it: the handler, whose leader checks skip the routing tree
    ServerBinding b = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views)).toCompletableFuture().get();
    base = "http://127.0.0.1:" + b.localAddress().getPort();
  }

  @AfterAll
  static void unbind() {
    kit.shutdownTestKit();
  }

  static HttpResponse<String> send(String method, String path) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create(base + path)).method(method, HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> send(String method, String path, String body) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
        .method(method, HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode json(HttpResponse<String> r) throws Exception {
    return Json.MAPPER.readTree(r.body());
  }

  @Test
  void leaderAnswers200WithEmptyObjectOnEveryHealthRoute() throws Exception {
    views.leader = true;
    for (var r : List.of(send("POST", "/v1/leaderHealthCheck"), send("GET", "/v1/leaderHealthCheck"),
        send("GET", "/v1/server/leaderHealthCheck"))) {
      assertEquals(200, r.statusCode());
      assertEquals("{}", r.body());
      assertEquals("application/json", r.headers().firstValue("content-type").orElse(""));
      assertEquals("7", r.headers().firstValue("X-PMM-HA-Epoch").orElse(""), "leader answers carry the epoch");
    }
  }

  @Test
  void aSteppingDownLeaderHoldsIts503UntilTheHandOverSettles() throws Exception {
    views.leader = false;
    views.settled = new java.util.concurrent.CompletableFuture<>();
    try {
      var pending = client.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/leaderHealthCheck"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      Thread.sleep(300);
      assertFalse(pending.isDone(), "held while the next leader is not known yet");
      views.settled.complete(null);
      HttpResponse<String> r = pending.get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(503, r.statusCode());
      assertTrue(r.body().contains("isn't the leader"), r.body());
    } finally {
      views.settled = java.util.concurrent.CompletableFuture.completedFuture(null);
    }
  }

  @Test
  void aWriteThatFindsNoLeaderDuringAHandOverGetsIts503WhenTheHandOverSettles() throws Exception {
    views.noLeader = true;
    views.settled = new java.util.concurrent.CompletableFuture<>();
    try {
      var pending = client.sendAsync(HttpRequest.newBuilder(URI.create(base + "/v1/ha/settings/held.write"))
          .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString("1")).build(),
          HttpResponse.BodyHandlers.ofString());
      Thread.sleep(300);
      assertFalse(pending.isDone(), "held while this node's hand-over is not settled");
      views.settled.complete(null);
      HttpResponse<String> r = pending.get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(503, r.statusCode());
      assertTrue(r.body().contains("no leader answered"), r.body());
      // with no hand-over in progress the 503 comes at once
      HttpResponse<String> now = send("PUT", "/v1/ha/settings/held.write", "1");
      assertEquals(503, now.statusCode());
    } finally {
      views.noLeader = false;
      views.settled = java.util.concurrent.CompletableFuture.completedFuture(null);
    }
  }

  /** Requests served, as the metrics see them. */
  public static final class Served implements Observability {
    public final List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
    @Override public String scrapeMetrics() { return ""; }
    @Override public String metricsContentType() { return "text/plain"; }
    @Override public java.util.concurrent.CompletionStage<List<HistoryEntry>> history(int max) {
      return java.util.concurrent.CompletableFuture.completedFuture(List.of());
    }
    @Override public void requestServed(String route, int status, long nanos) {
      assertTrue(nanos >= 0, "a duration");
      seen.add(route + " " + status);
    }
  }

  @Test
  void leaderChecksAnsweredBeforeTheRoutingTreeAnswerExactlyAsTheTreeDoes() throws Exception {
    FakeViews v = new FakeViews();
    Served fastSeen = new Served();
    Served treeSeen = new Served();
    HaRoutes fast = new HaRoutes(v, v, v, fastSeen, Auth.open(), NodeControl.NONE);
    HaRoutes tree = new HaRoutes(v, v, v, treeSeen, Auth.open(), NodeControl.NONE);
    ServerBinding a = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0), fast).toCompletableFuture().get();
    ServerBinding b = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0), tree.route())
        .toCompletableFuture().get();
    try {
      List<String[]> requests = List.of(new String[] {"POST", "/v1/leaderHealthCheck"},
          new String[] {"GET", "/v1/leaderHealthCheck"}, new String[] {"GET", "/v1/server/leaderHealthCheck"},
          new String[] {"GET", "/v1/leaderHealthCheck?probe=1"},
          // not leader checks: the route answers them on both
          new String[] {"POST", "/v1/server/leaderHealthCheck"}, new String[] {"PUT", "/v1/leaderHealthCheck"},
          new String[] {"GET", "/v1/leaderHealthCheck/"}, new String[] {"GET", "/v1/leaderhealthcheck"});
      int states = 0;
      for (Runnable state : List.<Runnable>of(() -> { v.leader = true; v.ha = true; },
          () -> { v.leader = false; v.ha = true; }, () -> { v.leader = false; v.ha = false; })) {
        state.run();
        states++;
        for (String[] rq : requests) {
          HttpResponse<String> f = sendTo(a, rq[0], rq[1]);
          HttpResponse<String> t = sendTo(b, rq[0], rq[1]);
          String what = "state " + states + ": " + rq[0] + " " + rq[1];
          assertEquals(t.statusCode(), f.statusCode(), what);
          assertEquals(t.body(), f.body(), what);
          for (String h : List.of("content-type", "X-PMM-HA-Epoch", "Allow")) {
            assertEquals(t.headers().allValues(h), f.headers().allValues(h), what + ": header " + h);
          }
        }
      }
      assertEquals(treeSeen.seen, fastSeen.seen, "the same request metrics, by route template and status");
      assertTrue(fastSeen.seen.contains("/v1/leaderHealthCheck 200"), fastSeen.seen.toString());
      assertTrue(fastSeen.seen.contains("/v1/server/leaderHealthCheck 503"), fastSeen.seen.toString());
    } finally {
      a.unbind();
      b.unbind();
    }
  }

  static HttpResponse<String> sendTo(ServerBinding b, String method, String path) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + b.localAddress().getPort() + path))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void followerAnswers503WithPmmsErrorShape() throws Exception {
    views.leader = false;
    HttpResponse<String> r = send("POST", "/v1/leaderHealthCheck");
    assertEquals(503, r.statusCode());
    assertEquals("{\"error\":\"this PMM Server isn't the leader\",\"code\":9,"
        + "\"message\":\"this PMM Server isn't the leader\",\"details\":[]}", r.body());
    assertEquals(503, send("GET", "/v1/server/leaderHealthCheck").statusCode());
  }

  @Test
  void withHaOffTheHealthCheckIsAlways200() throws Exception {
    views.leader = false;
    views.ha = false;
    try {
      assertEquals(200, send("POST", "/v1/leaderHealthCheck").statusCode());
      assertEquals("Disabled", json(send("GET", "/v1/ha/status")).get("status").asText());
    } finally {
      views.ha = true;
    }
    assertEquals("Enabled", json(send("GET", "/v1/ha/status")).get("status").asText());
  }

  @Test
  void statusHasPmmsNamespaceFieldEmptyOffKubernetes() throws Exception {
    assertEquals("{\"status\":\"Enabled\",\"namespace\":\"\"}", send("GET", "/v1/ha/status").body());
    views.namespace = "pmm";
    try {
      assertEquals("{\"status\":\"Enabled\",\"namespace\":\"pmm\"}", send("GET", "/v1/ha/status").body());
    } finally {
      views.namespace = "";
    }
  }

  @Test
  void nodesUsePmmsShape() throws Exception {
    JsonNode body = json(send("GET", "/v1/ha/nodes"));
    assertEquals(3, body.get("expected_nodes").asInt());
    assertEquals("a", body.get("nodes").get(0).get("node_name").asText());
    assertEquals("NODE_ROLE_LEADER", body.get("nodes").get(0).get("role").asText());
    assertEquals("suspect", body.get("nodes").get(1).get("status").asText());
  }

  @Test
  void leaderRouteGivesNodeEpochAndIsoTime() throws Exception {
    views.known = null;
    assertEquals(503, send("GET", "/v1/ha/leader").statusCode());
    views.known = new LeaderView.LeaderInfo("b", 7, Instant.parse("2026-01-02T03:04:05Z"));
    JsonNode body = json(send("GET", "/v1/ha/leader"));
    assertEquals("b", body.get("node_id").asText());
    assertEquals(7, body.get("epoch").asLong());
    assertEquals("2026-01-02T03:04:05Z", body.get("since").asText());
  }

  @Test
  void readyzSaysWhyItIsNotReady() throws Exception {
    views.readiness = ClusterView.Readiness.notReady("store: connection refused");
    HttpResponse<String> r = send("GET", "/v1/readyz");
    assertEquals(503, r.statusCode());
    assertEquals("store: connection refused", json(r).get("reason").asText());
    views.readiness = ClusterView.Readiness.ok();
    assertEquals(200, send("GET", "/v1/server/readyz").statusCode());
  }

  @Test
  void unknownPathsAndMethodsGetJsonErrors() throws Exception {
    HttpResponse<String> r = send("GET", "/v1/nothing");
    assertEquals(404, r.statusCode());
    assertEquals(5, json(r).get("code").asInt());
    HttpResponse<String> m = send("DELETE", "/v1/ha/nodes");
    assertEquals(405, m.statusCode());
    assertTrue(json(m).get("message").asText().contains("GET"), m.body());
  }

  @Test
  void settingsAreWrittenReadAndDeletedWithVersionsAndTheEpoch() throws Exception {
    HttpResponse<String> w = send("PUT", "/v1/ha/settings/backup.interval", "{\"minutes\": 30}");
    assertEquals(200, w.statusCode(), w.body());
    assertEquals("7", w.headers().firstValue("X-PMM-HA-Epoch").orElse(""));
    long version = json(w).get("version").asLong();
    JsonNode one = json(send("GET", "/v1/ha/settings/backup.interval"));
    assertEquals(30, one.get("value").get("minutes").asInt());
    assertEquals(version, one.get("version").asLong());
    JsonNode all = json(send("GET", "/v1/ha/settings"));
    assertEquals(30, all.get("settings").get("backup.interval").get("value").get("minutes").asInt());
    assertEquals(200, send("DELETE", "/v1/ha/settings/backup.interval").statusCode());
    assertEquals(404, send("GET", "/v1/ha/settings/backup.interval").statusCode());
    assertEquals(404, send("DELETE", "/v1/ha/settings/backup.interval").statusCode());
  }

  @Test
  void badKeysAndBodiesGet400WithAReason() throws Exception {
    HttpResponse<String> badKey = send("PUT", "/v1/ha/settings/.hidden", "1");
    assertEquals(400, badKey.statusCode());
    assertTrue(json(badKey).get("message").asText().contains("invalid key"), badKey.body());
    HttpResponse<String> badBody = send("PUT", "/v1/ha/settings/ok", "{not json");
    assertEquals(400, badBody.statusCode());
    assertTrue(json(badBody).get("message").asText().contains("JSON"), badBody.body());
    assertEquals(400, send("PUT", "/v1/ha/settings/ok", "").statusCode());
    HttpResponse<String> big = send("PUT", "/v1/ha/settings/big", "\"" + "x".repeat(70_000) + "\"");
    assertEquals(413, big.statusCode(), big.body());
  }

  @Test
  void aSwitchoverAnswersWhereLeadershipWentOr409WithTheReasonOr400ForABadBody() throws Exception {
    java.util.List<java.util.Optional<String>> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
    NodeControl control = new NodeControl() {
      @Override public java.util.concurrent.CompletionStage<Void> leave() {
        return java.util.concurrent.CompletableFuture.completedFuture(null);
      }
      @Override public java.util.concurrent.CompletionStage<Switched> switchover(java.util.Optional<String> candidate) {
        asked.add(candidate);
        return candidate.filter("b"::equals).isPresent()
            ? java.util.concurrent.CompletableFuture.completedFuture(new Switched("a", "b", 8))
            : java.util.concurrent.CompletableFuture.failedFuture(new SwitchoverRefused(candidate.orElse("-") + " is not an Up member"));
      }
    };
    ServerBinding b = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views, Observability.NONE, Auth.open(), control)).toCompletableFuture().get();
    String url = "http://127.0.0.1:" + b.localAddress().getPort() + "/v1/ha/switchover";
    java.util.function.Function<String, HttpResponse<String>> post = body -> {
      try {
        return client.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    };
    try {
      HttpResponse<String> ok = post.apply("{\"candidate\":\"b\"}");
      assertEquals(200, ok.statusCode(), ok.body());
      assertEquals("{\"from\":\"a\",\"to\":\"b\",\"epoch\":8}", ok.body());
      HttpResponse<String> refused = post.apply("");
      assertEquals(409, refused.statusCode(), refused.body());
      assertEquals(9, json(refused).get("code").asInt());
      assertEquals("- is not an Up member", json(refused).get("message").asText());
      for (String bad : List.of("{\"candidate\":1}", "{\"candidate\":\"no spaces\"}", "{\"to\":\"b\"}", "[", "[1]")) {
        HttpResponse<String> r = post.apply(bad);
        assertEquals(400, r.statusCode(), bad + " -> " + r.body());
        assertEquals(3, json(r).get("code").asInt(), r.body());
      }
      assertEquals(List.of(java.util.Optional.of("b"), java.util.Optional.<String>empty()), asked,
          "a bad body never reaches the cluster");
      assertEquals(405, send("GET", "/v1/ha/switchover").statusCode());
    } finally {
      b.unbind().toCompletableFuture().get();
    }
  }

  @Test
  void aSettingMissingFromALaggingCopyIsReadFromTheLeadersNeverDenied() throws Exception {
    assertEquals(200, send("PUT", "/v1/ha/settings/lag.key", "7").statusCode());
    views.lagging = true;
    try {
      HttpResponse<String> one = send("GET", "/v1/ha/settings/lag.key");
      assertEquals(200, one.statusCode(), one.body());
      assertEquals(7, json(one).get("value").asInt());
      assertEquals(7, json(send("GET", "/v1/ha/settings")).get("settings").get("lag.key").get("value").asInt());
      assertEquals(404, send("GET", "/v1/ha/settings/never.written.anywhere").statusCode(), "absent from the leader's too");
    } finally {
      views.lagging = false;
    }
  }

  @Test
  void aReadFromACopyNotKnownToBeCurrentIs503NeverA404() throws Exception {
    assertEquals(200, send("PUT", "/v1/ha/settings/retention", "\"30d\"").statusCode());
    views.notCurrent = true;
    try {
      for (String path : List.of("/v1/ha/settings/retention", "/v1/ha/settings/never.written", "/v1/ha/settings")) {
        HttpResponse<String> r = send("GET", path);
        assertEquals(503, r.statusCode(), path + ": " + r.body());
        assertEquals(14, json(r).get("code").asInt(), r.body());
        assertEquals("copy not known current", json(r).get("message").asText());
      }
    } finally {
      views.notCurrent = false;
    }
    assertEquals("30d", json(send("GET", "/v1/ha/settings/retention")).get("value").asText());
  }

  @Test
  void aWriteWithNoLeaderGets503() throws Exception {
    views.noLeader = true;
    try {
      HttpResponse<String> r = send("PUT", "/v1/ha/settings/k", "1");
      assertEquals(503, r.statusCode());
      assertEquals(14, json(r).get("code").asInt());
    } finally {
      views.noLeader = false;
    }
  }

  @Test
  void wrongContentTypesAreRefusedWith415() throws Exception {
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(base + "/v1/ha/settings/k"))
        .header("Content-Type", "application/xml").PUT(HttpRequest.BodyPublishers.ofString("<a/>")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(415, r.statusCode(), r.body());
    assertTrue(json(r).get("message").asText().contains("application/json"));
  }

  @Test
  void withCredentialsConfiguredWritesNeedThemAndHealthStaysOpen() throws Exception {
    Auth auth = new Auth("admin", "s3cret", "tok-123", true);
    FakeViews v = new FakeViews();
    v.leader = true;
    ServerBinding b = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(v, v, v, Observability.NONE, auth, NodeControl.NONE)).toCompletableFuture().get();
    String url = "http://127.0.0.1:" + b.localAddress().getPort();
    try {
      java.util.function.BiFunction<String, String, Integer> put = (path, authorization) -> {
        try {
          HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(url + path)).header("Content-Type", "application/json")
              .PUT(HttpRequest.BodyPublishers.ofString("1"));
          if (authorization != null) {
            rb.header("Authorization", authorization);
          }
          return client.send(rb.build(), HttpResponse.BodyHandlers.ofString()).statusCode();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      };
      HttpResponse<String> none = client.send(HttpRequest.newBuilder(URI.create(url + "/v1/ha/settings/a"))
          .PUT(HttpRequest.BodyPublishers.ofString("1")).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(401, none.statusCode());
      assertEquals(16, json(none).get("code").asInt());
      assertTrue(none.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Basic"));
      String basic = "Basic " + java.util.Base64.getEncoder().encodeToString("admin:s3cret".getBytes());
      String wrong = "Basic " + java.util.Base64.getEncoder().encodeToString("admin:s3cres".getBytes());
      assertEquals(401, put.apply("/v1/ha/settings/a", wrong));
      assertEquals(401, put.apply("/v1/ha/settings/a", "Bearer tok-124"));
      assertEquals(401, put.apply("/v1/ha/settings/a", "Basic !!!notbase64"));
      assertEquals(200, put.apply("/v1/ha/settings/a", basic));
      assertEquals(200, put.apply("/v1/ha/settings/a", "Bearer tok-123"));
      // probes stay open; HA reads are protected when auth-reads is on
      for (String open : List.of("/v1/leaderHealthCheck", "/v1/server/leaderHealthCheck")) {
        assertEquals(200, client.send(HttpRequest.newBuilder(URI.create(url + open)).build(),
            HttpResponse.BodyHandlers.discarding()).statusCode(), open);
      }
      assertEquals(503, client.send(HttpRequest.newBuilder(URI.create(url + "/v1/readyz")).build(),
          HttpResponse.BodyHandlers.discarding()).statusCode(), "readiness answers without credentials");
      assertEquals(401, client.send(HttpRequest.newBuilder(URI.create(url + "/v1/ha/nodes")).build(),
          HttpResponse.BodyHandlers.discarding()).statusCode());
      assertEquals(200, client.send(HttpRequest.newBuilder(URI.create(url + "/v1/ha/nodes")).header("Authorization", basic).build(),
          HttpResponse.BodyHandlers.discarding()).statusCode());
      assertEquals(401, client.send(HttpRequest.newBuilder(URI.create(url + "/v1/ha/leave"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding()).statusCode());
    } finally {
      b.unbind().toCompletableFuture().get();
    }
  }

  /** Seeded random bodies and keys: every answer is a 2xx or a 4xx with a JSON body, never a 5xx. */
  @Test
  void fuzzedSettingsWritesNeverFailTheServer() throws Exception {
    java.util.Random rnd = new java.util.Random(20261124);
    String[] fragments = {"{", "}", "[", "]", "\"", ":", ",", "1", "-", "e9", "null", "true", "\\u00", "\u0000",
        "x", " ", "\n", "{\"a\":", "1e999999", "\ud800", "NaN", "//", "/*"};
    for (int i = 0; i < 400; i++) {
      StringBuilder body = new StringBuilder();
      int parts = rnd.nextInt(12);
      for (int j = 0; j < parts; j++) {
        body.append(fragments[rnd.nextInt(fragments.length)]);
      }
      String key = rnd.nextInt(5) == 0 ? "bad%20key" + i : "k" + rnd.nextInt(20);
      HttpResponse<String> r = send("PUT", "/v1/ha/settings/" + key, body.toString());
      assertTrue(r.statusCode() == 200 || r.statusCode() == 400, "PUT " + key + " " + body + " -> " + r.statusCode() + " " + r.body());
      json(r); // always JSON
    }
    assertEquals(200, send("GET", "/v1/ha/settings").statusCode());
  }

  @Test
  void aRequestWithoutAnAnswerIsAnswered503AfterTheRequestTimeoutWhileLeaderChecksStayInstant() throws Exception {
    ActorTestKit timed = ActorTestKit.create(com.typesafe.config.ConfigFactory
        .parseString("pmm-ha.http.request-timeout = 700ms").withFallback(com.typesafe.config.ConfigFactory.load()));
    FakeViews v = new FakeViews();
    v.leader = true;
    v.hangWrites = true;
    try {
      ServerBinding b = HttpServer.start(timed.system(), new HttpSettings("127.0.0.1", 0),
          new HaRoutes(v, v, v)).toCompletableFuture().get();
      String at = "http://127.0.0.1:" + b.localAddress().getPort();
      var write = client.sendAsync(HttpRequest.newBuilder(URI.create(at + "/v1/ha/settings/k"))
          .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString("1")).build(),
          HttpResponse.BodyHandlers.ofString());
      long start = System.nanoTime();
      HttpResponse<String> check = client.send(HttpRequest.newBuilder(URI.create(at + "/v1/leaderHealthCheck"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, check.statusCode(), "a leader check does not wait behind a hanging write");
      HttpResponse<String> r = write.get(10, java.util.concurrent.TimeUnit.SECONDS);
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertEquals(503, r.statusCode(), r.body());
      assertEquals(4, json(r).get("code").asInt(), r.body());
      assertTrue(json(r).get("message").asText().contains("700 ms"), r.body());
      assertTrue(ms >= 600, "answered after the timeout, not before: " + ms + " ms");
      v.hangWrites = false;
      HttpResponse<String> ok = client.send(HttpRequest.newBuilder(URI.create(at + "/v1/ha/settings/k"))
          .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString("1")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, ok.statusCode(), "an answer within the timeout is passed on: " + ok.body());
    } finally {
      timed.shutdownTestKit();
    }
  }
}
