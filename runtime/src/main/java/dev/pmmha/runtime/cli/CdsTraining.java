package dev.pmmha.runtime.cli;

import dev.pmmha.runtime.PmmHaNode;
import dev.pmmha.runtime.config.PmmHaConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.CoordinatedShutdown;

/**
 * {@code java -XX:ArchiveClassesAtExit=pmm-ha.jsa -jar pmm-ha.jar cds-training}: the training run of the class
 * data sharing archive that {@code deploy/docker/make-cds-archive.sh} builds. It runs one node with HA on (a
 * cluster of itself on 127.0.0.1, free ports, an embedded H2 store in a temp dir), so that the classes of
 * cluster formation, the leader singleton, persistence, the HTTP routes and the graceful leave are all loaded,
 * calls every route once, leaves and exits 0. The JVM then writes those classes, parsed and verified, into the
 * archive, and a node started with {@code -XX:SharedArchiveFile} maps them instead of loading them again: about
 * half of a node's start-up CPU.
 */
public final class CdsTraining {

  private CdsTraining() {}

  public static int run(PrintStream out, PrintStream err) {
    Path dir;
    try {
      dir = Files.createTempDirectory("pmm-ha-cds-training");
    } catch (IOException e) {
      err.println("pmm-ha cds-training: cannot create a temp dir: " + e.getMessage());
      return 1;
    }
    try {
      int http = freePort();
      Map<String, String> env = Map.of(
          "PMM_HA_ENABLE", "1",
          "PMM_HA_NODE_ID", "cds-training",
          "PMM_HA_PEERS", "127.0.0.1",
          "PMM_HA_ADVERTISE_ADDRESS", "127.0.0.1",
          "PMM_HA_BIND_ADDRESS", "127.0.0.1",
          "PMM_HA_HTTP_PORT", String.valueOf(http),
          "PMM_HA_GOSSIP_PORT", String.valueOf(freePort()),
          "PMM_HA_RAFT_PORT", String.valueOf(freePort()),
          "PMM_HA_DATA_DIR", dir.toString());
      out.println("pmm-ha cds-training: one node on 127.0.0.1:" + http + ", store in " + dir);
      PmmHaNode node = PmmHaNode.start(PmmHaConfig.load(env), PmmHaNode.Formation.AUTOMATIC);
      try {
        exercise(http, out);
      } finally {
        CoordinatedShutdown.get(node.system()).runAll(CoordinatedShutdown.jvmExitReason())
            .toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
      out.println("pmm-ha cds-training: done");
      return 0;
    } catch (Exception e) {
      err.println("pmm-ha cds-training: failed: " + e);
      return 1;
    } finally {
      deleteTree(dir);
    }
  }

  private static void exercise(int port, PrintStream out) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (status(port, "POST", "/v1/leaderHealthCheck", null) != 200) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the training node did not become leader within 60 s");
      }
      Thread.sleep(100);
    }
    List<String[]> calls = List.of(
        new String[] {"GET", "/v1/server/leaderHealthCheck", null},
        new String[] {"GET", "/v1/readyz", null},
        new String[] {"GET", "/v1/ha/status", null},
        new String[] {"GET", "/v1/ha/nodes", null},
        new String[] {"GET", "/v1/ha/leader", null},
        new String[] {"GET", "/metrics", null},
        new String[] {"GET", "/", null},
        new String[] {"PUT", "/v1/ha/settings/cds.training", "{\"warm\":true}"},
        new String[] {"GET", "/v1/ha/settings/cds.training", null},
        new String[] {"GET", "/v1/ha/settings", null},
        new String[] {"PUT", "/v1/ha/jobs/cds-training", "{\"interval\":\"1h\",\"command\":[\"true\"],\"timeout\":\"5s\"}"},
        new String[] {"GET", "/v1/ha/jobs", null},
        new String[] {"DELETE", "/v1/ha/jobs/cds-training", null},
        new String[] {"GET", "/v1/no-such-route", null},
        new String[] {"PUT", "/v1/ha/settings/bad", "{not json"});
    for (int round = 0; round < 3; round++) {
      for (String[] c : calls) {
        status(port, c[0], c[1], c[2]);
      }
    }
    out.println("pmm-ha cds-training: every route called");
  }

  /**
   * One HTTP/1.1 request on its own connection; the status code, or -1. A plain socket, not java.net.http: the
   * archive gets the classes a node uses, and the JDK's HTTP client (about 300 classes, several MB of archive
   * that every node would map and touch) is not one of them.
   */
  private static int status(int port, String method, String path, String body) {
    byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    String head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nConnection: close\r\n"
        + (body == null ? "" : "Content-Type: application/json\r\n") + "Content-Length: " + content.length
        + "\r\n\r\n";
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 2_000);
      socket.setSoTimeout(5_000);
      socket.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      socket.getOutputStream().write(content);
      socket.getOutputStream().flush();
      String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
      // "HTTP/1.1 200 OK"
      return response.startsWith("HTTP/1.1 ") && response.length() >= 12
          ? Integer.parseInt(response.substring(9, 12)) : -1;
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (IOException | UncheckedIOException e) {
      // a leftover temp dir is not worth failing the training for
    }
  }
}
