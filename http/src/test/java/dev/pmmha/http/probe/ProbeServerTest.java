package dev.pmmha.http.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.http.HttpServer;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.http.api.NodeControl;
import dev.pmmha.http.routes.Auth;
import dev.pmmha.http.routes.HaRoutes;
import dev.pmmha.http.routes.HaRoutesTest;
import dev.pmmha.http.routes.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ProbeServerTest {

  static ActorTestKit kit;
  static final HttpClient client = HttpClient.newHttpClient();

  final HaRoutesTest.FakeViews views = new HaRoutesTest.FakeViews();
  final HaRoutesTest.Served served = new HaRoutesTest.Served();
  final HaRoutes routes = new HaRoutes(views, views, views, served, Auth.open(), NodeControl.NONE);
  ProbeServer probe;

  @BeforeAll
  static void start() {
    kit = ActorTestKit.create();
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  @AfterEach
  void close() {
    if (probe != null) {
      probe.close();
    }
  }

  ProbeServer probe(long timeoutMs, long idleMs) throws IOException {
    probe = ProbeServer.start("127.0.0.1", 0, routes, timeoutMs, idleMs);
    return probe;
  }

  static HttpResponse<String> send(int port, String method, String path) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** One raw answer: status line, headers (lower-case names) and body, read by its Content-Length. */
  record Answer(String statusLine, java.util.Map<String, String> headers, String body) {
    int status() {
      return Integer.parseInt(statusLine.split(" ")[1]);
    }
  }

  static Answer readAnswer(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int state = 0;
    while (state < 4) {
      int c = in.read();
      if (c < 0) {
        throw new java.io.EOFException("closed after " + head.size() + " bytes of a head: " + head);
      }
      head.write(c);
      state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1
          : (c == '\r' ? 1 : 0);
    }
    String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
    java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      headers.put(lines[i].substring(0, colon).toLowerCase(), lines[i].substring(colon + 1).trim());
    }
    byte[] body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
    return new Answer(lines[0], headers, new String(body, StandardCharsets.UTF_8));
  }

  @Test
  void answersEveryLeaderCheckAsTheApiRouteDoesInEveryLeadershipState() throws Exception {
    HaRoutesTest.Served treeSeen = new HaRoutesTest.Served();
    ServerBinding api = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views, treeSeen, Auth.open(), NodeControl.NONE)).toCompletableFuture().get();
    int port = probe(10_000, 30_000).localAddress().getPort();
    try {
      List<String[]> checks = List.of(new String[] {"POST", "/v1/leaderHealthCheck"},
          new String[] {"GET", "/v1/leaderHealthCheck"}, new String[] {"GET", "/v1/server/leaderHealthCheck"},
          new String[] {"GET", "/v1/leaderHealthCheck?probe=1"});
      int states = 0;
      for (Runnable state : List.<Runnable>of(() -> { views.leader = true; views.ha = true; },
          () -> { views.leader = true; views.ha = true; views.epoch = 8; },
          () -> { views.leader = false; views.ha = true; }, () -> { views.leader = false; views.ha = false; })) {
        state.run();
        states++;
        for (String[] rq : checks) {
          HttpResponse<String> p = send(port, rq[0], rq[1]);
          HttpResponse<String> a = send(api.localAddress().getPort(), rq[0], rq[1]);
          String what = "state " + states + ": " + rq[0] + " " + rq[1];
          assertEquals(a.statusCode(), p.statusCode(), what);
          assertEquals(a.body(), p.body(), what);
          for (String h : List.of("content-type", "X-PMM-HA-Epoch")) {
            assertEquals(a.headers().allValues(h), p.headers().allValues(h), what + ": header " + h);
          }
          assertTrue(p.headers().firstValue("date").isPresent(), what + ": a Date header");
        }
      }
      assertEquals(treeSeen.seen, served.seen, "the same request metrics as the API port");
      assertTrue(served.seen.contains("/v1/leaderHealthCheck 200") && served.seen.contains("/v1/leaderHealthCheck 503"),
          served.seen.toString());
    } finally {
      api.unbind();
    }
  }

  @Test
  void otherPathsAndMethodsGetPmmShapedErrors() throws Exception {
    views.leader = true;
    int port = probe(10_000, 30_000).localAddress().getPort();
    HttpResponse<String> notFound = send(port, "GET", "/v1/ha/status");
    assertEquals(404, notFound.statusCode());
    assertEquals(5, Json.MAPPER.readTree(notFound.body()).get("code").asInt(), notFound.body());
    HttpResponse<String> wrong = send(port, "PUT", "/v1/leaderHealthCheck");
    assertEquals(405, wrong.statusCode());
    assertTrue(wrong.body().contains("GET, POST"), wrong.body());
    assertEquals(405, send(port, "POST", "/v1/server/leaderHealthCheck").statusCode());
    assertTrue(served.seen.isEmpty(), "errors are not leader checks: " + served.seen);
  }

  @Test
  void keepAlivePipelinedAndSplitRequestsAreAnsweredInOrder() throws Exception {
    views.leader = true;
    views.epoch = 42;
    int port = probe(10_000, 30_000).localAddress().getPort();
    try (Socket s = new Socket("127.0.0.1", port)) {
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      // three requests in one write, the POST with a body that must be skipped, not read as a request
      out.write(("POST /v1/leaderHealthCheck HTTP/1.1\r\nHost: www\r\nContent-Length: 2\r\n\r\n{}"
          + "\r\nGET /nothing HTTP/1.1\r\nHost: www\r\n\r\n"
          + "GET /v1/server/leaderHealthCheck HTTP/1.1\r\nHost: www\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      Answer a = readAnswer(in);
      assertEquals(200, a.status(), a.toString());
      assertEquals("42", a.headers().get("x-pmm-ha-epoch"));
      assertEquals("{}", a.body());
      assertEquals(404, readAnswer(in).status());
      assertEquals(200, readAnswer(in).status());
      // one request a byte at a time, its body split too
      byte[] slow = "POST /v1/leaderHealthCheck HTTP/1.1\r\nHost: www\r\nContent-Length: 3\r\n\r\nabc"
          .getBytes(StandardCharsets.ISO_8859_1);
      for (byte b : slow) {
        out.write(b);
        out.flush();
        Thread.sleep(2);
      }
      assertEquals(200, readAnswer(in).status());
      out.write("GET /v1/leaderHealthCheck HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      Answer last = readAnswer(in);
      assertEquals(200, last.status());
      assertEquals("close", last.headers().get("connection"));
      assertEquals(-1, in.read(), "closed after an answer to Connection: close");
    }
    assertEquals(List.of("/v1/leaderHealthCheck 200", "/v1/server/leaderHealthCheck 200", "/v1/leaderHealthCheck 200",
        "/v1/leaderHealthCheck 200"), served.seen);
  }

  @Test
  void http10ClosesAfterTheAnswerUnlessKeepAliveIsAsked() throws Exception {
    views.leader = true;
    int port = probe(10_000, 30_000).localAddress().getPort();
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.getOutputStream().write("GET /v1/leaderHealthCheck HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
      assertEquals(200, readAnswer(s.getInputStream()).status());
      assertEquals(-1, s.getInputStream().read());
    }
    try (Socket s = new Socket("127.0.0.1", port)) {
      for (int i = 0; i < 2; i++) {
        s.getOutputStream().write("GET /v1/leaderHealthCheck HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            .getBytes(StandardCharsets.ISO_8859_1));
        Answer a = readAnswer(s.getInputStream());
        assertEquals(200, a.status(), "request " + i + " on one connection");
        assertEquals("keep-alive", a.headers().get("connection"));
        assertTrue(a.headers().get("date").matches("[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT"),
            a.headers().get("date"));
      }
    }
  }

  @Test
  void hostileInputIsRefusedAndTheConnectionClosed() throws Exception {
    views.leader = true;
    int port = probe(10_000, 30_000).localAddress().getPort();
    List<String[]> bad = List.of(
        new String[] {"GET /v1/leaderHealthCheck HTTP/1.1\r\nX-Big: " + "a".repeat(ProbeServer.MAX_HEAD) + "\r\n\r\n", "431"},
        new String[] {"POST /v1/leaderHealthCheck HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "400"},
        new String[] {"POST /v1/leaderHealthCheck HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", "413"},
        new String[] {"POST /v1/leaderHealthCheck HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400"},
        new String[] {"GARBAGE\r\n\r\n", "400"},
        new String[] {"GET /v1/leaderHealthCheck HTTP/1.1\r\nno colon here\r\n\r\n", "400"});
    for (String[] b : bad) {
      try (Socket s = new Socket("127.0.0.1", port)) {
        s.getOutputStream().write(b[0].getBytes(StandardCharsets.ISO_8859_1));
        Answer a;
        try {
          a = readAnswer(s.getInputStream());
        } catch (java.net.SocketException reset) {
          throw new AssertionError("no answer to " + b[0].substring(0, Math.min(60, b[0].length())), reset);
        }
        assertEquals(Integer.parseInt(b[1]), a.status(), b[0].substring(0, Math.min(60, b[0].length())));
        assertTrue(Json.MAPPER.readTree(a.body()).has("message"), a.body());
        s.setSoTimeout(5_000);
        assertEquals(-1, s.getInputStream().read(), "closed after refusing " + b[1]);
      }
    }
    assertEquals(200, send(port, "GET", "/v1/leaderHealthCheck").statusCode(), "still serving");
  }

  @Test
  void aSteppingDownLeadersAnswerWaitsForTheHandOverAndLaterRequestsWaitBehindIt() throws Exception {
    views.leader = false;
    views.settled = new CompletableFuture<>();
    int port = probe(10_000, 30_000).localAddress().getPort();
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.getOutputStream().write(("POST /v1/leaderHealthCheck HTTP/1.1\r\nHost: www\r\n\r\n"
          + "GET /v1/leaderHealthCheck HTTP/1.1\r\nHost: www\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      Thread.sleep(300);
      assertEquals(0, s.getInputStream().available(), "held while the next leader is not known yet");
      HttpResponse<String> other = send(port, "GET", "/v1/ha/nodes");
      assertEquals(404, other.statusCode(), "other connections are served meanwhile");
      views.settled.complete(null);
      Answer first = readAnswer(s.getInputStream());
      assertEquals(503, first.status());
      assertTrue(first.body().contains("isn't the leader"), first.body());
      assertEquals(503, readAnswer(s.getInputStream()).status());
    }
  }

  @Test
  void aRefusalPipelinedBehindAHeldAnswerComesAfterIt() throws Exception {
    views.leader = false;
    views.settled = new CompletableFuture<>();
    int port = probe(10_000, 30_000).localAddress().getPort();
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5_000);
      s.getOutputStream().write(("POST /v1/leaderHealthCheck HTTP/1.1\r\nHost: www\r\n\r\n"
          + "GARBAGE\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      Thread.sleep(300);
      assertEquals(0, s.getInputStream().available(), "the refusal waits for the held answer");
      views.settled.complete(null);
      assertEquals(503, readAnswer(s.getInputStream()).status());
      Answer refused = readAnswer(s.getInputStream());
      assertEquals(400, refused.status());
      assertEquals("close", refused.headers().get("connection"));
      assertEquals(-1, s.getInputStream().read(), "closed after the refusal");
    }
  }

  @Test
  void connectionsOverTheLimitAreClosedAtOnce() throws Exception {
    views.leader = true;
    int port = probe(10_000, 30_000).localAddress().getPort();
    List<Socket> open = new ArrayList<>();
    try {
      for (int i = 0; i < ProbeServer.MAX_CONNECTIONS; i++) {
        open.add(new Socket("127.0.0.1", port));
      }
      // the last of the allowed ones is served, so the server has taken them all
      Socket last = open.get(open.size() - 1);
      last.getOutputStream().write("GET /v1/leaderHealthCheck HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
      assertEquals(200, readAnswer(last.getInputStream()).status());
      try (Socket over = new Socket("127.0.0.1", port)) {
        over.setSoTimeout(5_000);
        over.getOutputStream().write("GET /v1/leaderHealthCheck HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        int first;
        try {
          first = over.getInputStream().read();
        } catch (java.net.SocketException reset) {
          first = -1; // closed with the request unread: the kernel may reset instead of FIN
        }
        assertEquals(-1, first, "connection " + (ProbeServer.MAX_CONNECTIONS + 1) + " is closed unanswered");
      }
      open.remove(0).close();
      // a freed slot is taken again
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (true) {
        try (Socket again = new Socket("127.0.0.1", port)) {
          again.setSoTimeout(5_000);
          again.getOutputStream().write("GET /v1/leaderHealthCheck HTTP/1.1\r\n\r\n"
              .getBytes(StandardCharsets.ISO_8859_1));
          assertEquals(200, readAnswer(again.getInputStream()).status());
          break;
        } catch (IOException stillFull) {
          assertTrue(System.nanoTime() < deadline, "a slot freed by a close is not taken again: " + stillFull);
          Thread.sleep(50);
        }
      }
    } finally {
      for (Socket s : open) {
        s.close();
      }
    }
  }

  @Test
  void aHandOverThatNeverSettlesIsAnswered503AfterTheTimeout() throws Exception {
    views.leader = false;
    views.settled = new CompletableFuture<>();
    int port = probe(500, 30_000).localAddress().getPort();
    long start = System.nanoTime();
    HttpResponse<String> r = send(port, "POST", "/v1/leaderHealthCheck");
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertEquals(503, r.statusCode());
    assertTrue(ms >= 400, "after the timeout: " + ms + " ms");
  }

  @Test
  void anIdleConnectionIsClosedAndCloseStopsListening() throws Exception {
    views.leader = true;
    int port = probe(10_000, 500).localAddress().getPort();
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5_000);
      long start = System.nanoTime();
      assertEquals(-1, s.getInputStream().read(), "closed by the server");
      assertTrue((System.nanoTime() - start) / 1_000_000 >= 400, "not before the idle timeout");
    }
    List<Socket> open = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        Socket s = new Socket("127.0.0.1", port);
        open.add(s);
        // answered once, so the server has taken the connection (one still in the listen queue is reset instead)
        s.getOutputStream().write("GET /v1/leaderHealthCheck HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(200, readAnswer(s.getInputStream()).status());
      }
      probe.close();
      for (Socket s : open) {
        s.setSoTimeout(5_000);
        assertEquals(-1, s.getInputStream().read(), "open connections are closed with the port");
      }
    } finally {
      for (Socket s : open) {
        s.close();
      }
    }
    assertThrows(IOException.class, () -> new Socket("127.0.0.1", port).close(), "no longer listening");
  }
}
