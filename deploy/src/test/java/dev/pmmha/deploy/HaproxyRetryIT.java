package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/haproxy/pmm-ha-recommended.cfg in a real HAProxy, in front of stub nodes on loopback: a request that a
 * leader answers 503 as it steps down is sent again to the next leader when it is idempotent (GET, PUT, DELETE),
 * also when its body arrives in a packet of its own, and never when it is not (POST).
 */
@Tag("integration")
class HaproxyRetryIT {

  @TempDir
  Path tmp;

  private final List<HttpServer> servers = new ArrayList<>();
  private Process haproxy;

  /** Requests each stub saw, by "METHOD path". */
  record Stub(int port, ConcurrentHashMap<String, AtomicInteger> seen) {
    int count(String key) {
      AtomicInteger n = seen.get(key);
      return n == null ? 0 : n.get();
    }
  }

  /** A node: answers the leader check with {@code check} and every other request with {@code answer}. */
  private Stub stub(int check, int answer) throws Exception {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
    ConcurrentHashMap<String, AtomicInteger> seen = new ConcurrentHashMap<>();
    s.createContext("/", (HttpExchange x) -> {
      byte[] body = x.getRequestBody().readAllBytes();
      String path = x.getRequestURI().getPath();
      boolean isCheck = path.equals("/v1/leaderHealthCheck");
      if (!isCheck) {
        seen.computeIfAbsent(x.getRequestMethod() + " " + path, k -> new AtomicInteger()).incrementAndGet();
      }
      int code = isCheck ? check : answer;
      byte[] out = ("{\"got\":" + body.length + "}").getBytes(StandardCharsets.UTF_8);
      x.getResponseHeaders().add("Content-Type", "application/json");
      x.sendResponseHeaders(code, out.length);
      try (OutputStream o = x.getResponseBody()) {
        o.write(out);
      }
    });
    s.start();
    servers.add(s);
    return new Stub(s.getAddress().getPort(), seen);
  }

  @AfterEach
  void stop() throws Exception {
    if (haproxy != null) {
      haproxy.destroy();
      haproxy.waitFor();
    }
    servers.forEach(s -> s.stop(0));
  }

  static int freePort() {
    return dev.pmmha.testkit.PostgresServer.freePort();
  }

  /** The recommended config with the compose addresses replaced by the stubs; the HTTPS part left out. */
  static String config(int port, Stub a, Stub b, Stub c) {
    String src = Repo.read(Repo.HAPROXY.resolve("pmm-ha-recommended.cfg"))
        .replace("/usr/local/etc/haproxy/", Repo.HAPROXY.toAbsolutePath() + "/")
        // a stub answers its checks and requests on one port: the check port is the stub's own
        .replace("172.20.0.5:8080 check port 8079", "127.0.0.1:" + a.port() + " check port " + a.port())
        .replace("172.20.0.6:8080 check port 8079", "127.0.0.1:" + b.port() + " check port " + b.port())
        .replace("172.20.0.7:8080 check port 8079", "127.0.0.1:" + c.port() + " check port " + c.port())
        .replace("bind *:80", "bind 127.0.0.1:" + port);
    StringBuilder out = new StringBuilder();
    for (String section : Pattern.compile("(?m)^(?=\\S)").split(src)) {
      String head = section.lines().findFirst().orElse("").strip();
      if (!head.startsWith("frontend https_front") && !head.startsWith("backend https_back")) {
        out.append(section);
      }
    }
    return out.toString();
  }

  /** One request on a fresh connection, the body (if any) written 50 ms after the head, in its own packet. */
  static int send(int port, String method, String path, String body) throws Exception {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setTcpNoDelay(true);
      s.setSoTimeout(10_000);
      OutputStream o = s.getOutputStream();
      byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
      String head = method + " " + path + " HTTP/1.1\r\nHost: pmm\r\nConnection: close\r\n"
          + (body == null ? "" : "Content-Type: application/json\r\nContent-Length: " + b.length + "\r\n") + "\r\n";
      o.write(head.getBytes(StandardCharsets.US_ASCII));
      o.flush();
      if (b.length > 0) {
        Thread.sleep(50);
        o.write(b);
        o.flush();
      }
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
      String status = in.readLine();
      assertTrue(status != null && status.startsWith("HTTP/1.1 "), "status line: " + status);
      return Integer.parseInt(status.split(" ")[1]);
    }
  }

  @Test
  void aStepDown503IsRetriedOnTheNextLeaderForIdempotentRequestsOnly() throws Exception {
    var found = Tools.find("haproxy");
    assumeTrue(found.isPresent(), "haproxy is not installed (apt-get install haproxy to run this test)");
    Stub steppingDown = stub(200, 503); // still passes the check, answers requests 503
    Stub next = stub(200, 200);
    Stub follower = stub(503, 503);
    int port = freePort();
    Path cfg = tmp.resolve("haproxy.cfg");
    Files.writeString(cfg, config(port, steppingDown, next, follower));
    haproxy = new ProcessBuilder(found.get().toString(), "-db", "-f", cfg.toString())
        .redirectErrorStream(true).redirectOutput(tmp.resolve("haproxy.log").toFile()).start();

    // both "leaders" in service (one good check each, rise 1), the follower out
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (true) {
      try {
        if (send(port, "GET", "/v1/ready", null) == 200 && next.count("GET /v1/ready") > 0) {
          break;
        }
      } catch (java.io.IOException notYet) {
        // HAProxy not listening yet
      }
      assertTrue(System.nanoTime() < deadline, "HAProxy did not serve through the stubs: " + Files.readString(tmp.resolve("haproxy.log")));
      Thread.sleep(100);
    }

    int rounds = 12;
    for (String method : List.of("GET", "PUT", "DELETE")) {
      for (int i = 0; i < rounds; i++) {
        String body = method.equals("PUT") ? "{\"v\":" + i + "}" : null;
        assertEquals(200, send(port, method, "/v1/ha/settings/k" + i, body), method + " " + i + " is retried to 200");
      }
      int refused = 0;
      for (int i = 0; i < rounds; i++) {
        refused += steppingDown.count(method + " /v1/ha/settings/k" + i);
      }
      assertTrue(refused > 0, method + ": some requests reached the stepping-down node first (round robin), so "
          + "the 200s above include retries; none did: " + steppingDown.seen());
    }

    int failedPosts = 0;
    for (int i = 0; i < rounds; i++) {
      int code = send(port, "POST", "/v1/ha/post" + i, "{\"v\":" + i + "}");
      if (code == 503) {
        failedPosts++;
      } else {
        assertEquals(200, code);
      }
    }
    int postsAtSteppingDown = 0;
    int postsAtNext = 0;
    for (int i = 0; i < rounds; i++) {
      postsAtSteppingDown += steppingDown.count("POST /v1/ha/post" + i);
      postsAtNext += next.count("POST /v1/ha/post" + i);
    }
    assertTrue(postsAtSteppingDown > 0, "some POSTs reached the stepping-down node");
    assertEquals(postsAtSteppingDown, failedPosts, "a POST answered 503 is not sent again (it may have been applied)");
    assertEquals(rounds, postsAtSteppingDown + postsAtNext, "every POST reached exactly one node once");
  }
}
