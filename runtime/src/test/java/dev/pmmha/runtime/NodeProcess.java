package dev.pmmha.runtime;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One pmm-ha node as a real {@code java -jar pmm-ha.jar} process, as an operator runs it. Stopped only through its
 * own {@link Process} handle (SIGTERM or SIGKILL to its PID), never by name.
 */
public final class NodeProcess implements AutoCloseable {

  static final Path JAR = Path.of(System.getProperty("pmmha.jar", "target/pmm-ha.jar"));
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(800)).build();

  public final String name;
  public final String ip;
  public final int httpPort;
  private final Map<String, String> env;
  private final Path log;
  private Process process;
  private int starts;

  /** The environment this node starts with. */
  public Map<String, String> env() {
    return env;
  }

  public NodeProcess(String name, String ip, int httpPort, Map<String, String> env, Path logDir) {
    this.name = name;
    this.ip = ip;
    this.httpPort = httpPort;
    this.env = env;
    this.log = logDir.resolve(name + ".log");
  }

  public NodeProcess start() {
    if (!Files.isRegularFile(JAR)) {
      throw new IllegalStateException(JAR + " is missing: run `mvn package` (the tests run it in `mvn verify`)");
    }
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx192m", "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1", "-jar", JAR.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    try {
      Files.createDirectories(log.getParent());
      Files.writeString(log, "=== start " + (++starts) + "\n", java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().keySet().removeIf(k -> k.startsWith("PMM_"));
    pb.environment().putAll(env);
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot start " + name + ": " + e.getMessage(), e);
    }
    return this;
  }

  public boolean alive() {
    return process != null && process.isAlive();
  }

  public long pid() {
    return process.pid();
  }

  /** {@code kill -9}: a crash. */
  public void kill9() {
    process.destroyForcibly();
    waitExit(Duration.ofSeconds(10));
  }

  /** {@code kill -TERM}: a graceful stop; returns the exit code. */
  public int term(Duration timeout) {
    process.destroy();
    return waitExit(timeout);
  }

  /** {@code kill -TERM} without waiting: for nodes stopped together; {@link #exited()} tells when it ended. */
  public void sigterm() {
    process.destroy();
  }

  /** Completes with the exit code when the process has ended. */
  public java.util.concurrent.CompletableFuture<Integer> exited() {
    return process.onExit().thenApply(Process::exitValue);
  }

  public int waitExit(Duration timeout) {
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError(name + " did not exit within " + timeout.toSeconds() + " s; log " + log);
      }
      return process.exitValue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }

  public String url(String path) {
    return "http://" + ip + ":" + httpPort + path;
  }

  public int status(String method, String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(1))
              .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  public String body(String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(1)).build(),
          HttpResponse.BodyHandlers.ofString()).body();
    } catch (Exception e) {
      return "";
    }
  }

  /** Waits until exactly one of the running {@code nodes} answers the leader check with 200, and returns it. */
  public static NodeProcess singleLeader(List<NodeProcess> nodes, Duration timeout) {
    return LocalCluster.eventually(timeout, () -> {
      List<NodeProcess> l = nodes.stream().filter(NodeProcess::alive).filter(NodeProcess::isLeader).toList();
      return l.size() == 1 ? l.get(0) : null;
    }, "exactly one node answering 200 among " + nodes);
  }

  public boolean isLeader() {
    return status("POST", "/v1/leaderHealthCheck") == 200;
  }

  public Path log() {
    return log;
  }

  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public String toString() {
    return name;
  }
}
