package dev.pmmha.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * deploy/docker/entrypoint.sh started for real, as Docker starts it (the script itself, by its #!/bin/sh line),
 * with PMM_HA_JAR pointing at the jar this build made. Stopped only through its own PID.
 */
final class EntrypointRun implements AutoCloseable {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(800)).build();

  final Process process;
  final Path log;

  private EntrypointRun(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /** The jar built by the runtime module (the reactor builds it before this module's tests). */
  static Path jar() {
    Path jar = Path.of(System.getProperty("pmmha.jar", Repo.ROOT.resolve("runtime/target/pmm-ha.jar").toString()));
    if (!Files.isRegularFile(jar)) {
      throw new AssertionError(jar + " is missing: build it first (mvn -DskipTests package, or mvn verify from the "
          + "repository root, which builds the runtime module before this one)");
    }
    return jar;
  }

  /** Starts the entrypoint with exactly this environment on top of PATH, HOME and JAVA_HOME. */
  static EntrypointRun start(Map<String, String> env, List<String> args, Path log) {
    return start(Repo.ENTRYPOINT, env, args, log);
  }

  static EntrypointRun start(Path script, Map<String, String> env, List<String> args, Path log) {
    List<String> cmd = new ArrayList<>();
    cmd.add(script.toString());
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().clear();
    pb.environment().put("PATH", System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
    pb.environment().put("HOME", System.getProperty("java.io.tmpdir"));
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().putAll(env);
    try {
      Files.createDirectories(log.getParent());
      pb.redirectOutput(log.toFile());
      return new EntrypointRun(pb.start(), log);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + Repo.ENTRYPOINT, e);
    }
  }

  long pid() {
    return process.pid();
  }

  /** argv of the process with this PID, from /proc. */
  List<String> commandLine() {
    try {
      String raw = Files.readString(Path.of("/proc", String.valueOf(pid()), "cmdline"), StandardCharsets.UTF_8);
      return List.of(raw.split("\0"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The process's environment, from /proc. */
  Map<String, String> environment() {
    try {
      String raw = Files.readString(Path.of("/proc", String.valueOf(pid()), "environ"), StandardCharsets.UTF_8);
      Map<String, String> out = new java.util.HashMap<>();
      for (String kv : raw.split("\0")) {
        int eq = kv.indexOf('=');
        if (eq > 0) {
          out.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The PIDs of this process's children, from /proc. */
  List<Long> children() {
    return process.children().map(ProcessHandle::pid).toList();
  }

  /** SIGTERM to the PID this test started: what docker stop and a pod deletion send. */
  void sigterm() {
    process.destroy();
  }

  /** Waits for the exit; returns the exit code, or fails naming the log. */
  int waitExit(Duration timeout) {
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("still running after " + timeout + "; log " + log + ":\n" + logText());
      }
      return process.exitValue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }

  String logText() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return "(cannot read " + log + ")";
    }
  }

  static int status(String url) {
    return status("GET", url);
  }

  static int status(String method, String url) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2))
              .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  /** The body of a GET, or null when nothing answers 200. */
  static String body(String url) {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
          HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? r.body() : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /** Polls until the condition holds, the process exits, or the timeout passes. */
  void await(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (condition.getAsBoolean()) {
        return;
      }
      if (!process.isAlive()) {
        throw new AssertionError("exited with " + process.exitValue() + " before " + what + "; log:\n" + logText());
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }
    throw new AssertionError("no " + what + " within " + timeout + "; log:\n" + logText());
  }

  static int freePort() {
    return dev.pmmha.testkit.PostgresServer.freePort();
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
