package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/docker/entrypoint.sh, run for real with the jar this build made: the JVM replaces the script (it is the
 * process Docker or Kubernetes signals), answers readyz, and on SIGTERM stops gracefully within the stop grace
 * period compose.yaml gives the nodes.
 */
@Tag("integration")
class EntrypointIT {

  static Duration composeGracePeriod() {
    Compose compose = Compose.load(Repo.COMPOSE, Compose.dotEnv(Repo.ENV_EXAMPLE));
    return Compose.duration(compose.service("pmm-server-active").path("stop_grace_period").asText());
  }

  @Test
  void theJvmIsTheProcessStartedAndStopsGracefullyOnSigterm(@TempDir Path tmp) {
    Path jar = EntrypointRun.jar();
    int http = EntrypointRun.freePort();
    Map<String, String> env = Map.of(
        "PMM_HA_JAR", jar.toString(),
        "PMM_HA_ENABLE", "0",
        "PMM_HA_HTTP_PORT", String.valueOf(http),
        "PMM_HA_PROBE_PORT", String.valueOf(EntrypointRun.freePort()),
        "PMM_HA_BIND_ADDRESS", "127.0.0.1",
        "PMM_HA_DATA_DIR", tmp.resolve("data").toString());
    try (EntrypointRun node = EntrypointRun.start(env, List.of("node"), Path.of("target", "it-logs", "entrypoint.log"))) {
      String readyz = "http://127.0.0.1:" + http + "/v1/readyz";
      node.await("200 from " + readyz, Duration.ofSeconds(90), () -> EntrypointRun.status(readyz) == 200);

      // exec: the PID this test started is now the JVM itself, running the jar with the default JAVA_OPTS
      List<String> argv = node.commandLine();
      assertEquals(Path.of(System.getProperty("java.home"), "bin", "java").toString(), argv.get(0),
          "the script exec'd the JVM (JAVA_HOME/bin/java): " + argv);
      assertTrue(argv.containsAll(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:MaxRAMPercentage=75.0",
          "-XX:+ExitOnOutOfMemoryError", "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30")), argv.toString());
      assertEquals("2", node.environment().get("MALLOC_ARENA_MAX"), "two malloc arenas unless set otherwise");
      assertEquals(List.of("-jar", jar.toString(), "node"), argv.subList(argv.size() - 3, argv.size()),
          "the jar, then the arguments given to the script");
      assertTrue(node.children().isEmpty(), "no shell left behind to hold the signal: " + node.children());

      long start = System.nanoTime();
      node.sigterm();
      Duration grace = composeGracePeriod();
      int code = node.waitExit(grace);
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(code == 0 || code == 143, "graceful exit (0, or 143 = terminated by SIGTERM), not " + code
          + "; log:\n" + node.logText());
      assertTrue(took.compareTo(grace) < 0, "stopped in " + took + ", within compose's stop_grace_period " + grace);
      System.out.println("entrypoint: SIGTERM to exit took " + took.toMillis() + " ms (grace " + grace + ")");
      assertEquals(-1, EntrypointRun.status(readyz), "nothing answers after the exit");
    }
  }

  /**
   * The same checks catch a launcher that does not exec: its shell gets the signal and dies, and the JVM below it
   * never hears of it and keeps serving (what Docker would SIGKILL at the end of the grace period).
   */
  @Test
  void withoutExecTheSignalNeverReachesTheJvm(@TempDir Path tmp) throws Exception {
    String script = Repo.read(Repo.ENTRYPOINT);
    assertTrue(script.contains("\nexec \"$java\""), "the script execs the JVM");
    Path noExec = tmp.resolve("entrypoint-no-exec.sh");
    Files.writeString(noExec, script.replace("\nexec \"$java\"", "\n\"$java\""));
    Files.setPosixFilePermissions(noExec, PosixFilePermissions.fromString("rwxr-xr-x"));
    int http = EntrypointRun.freePort();
    Map<String, String> env = Map.of(
        "PMM_HA_JAR", EntrypointRun.jar().toString(),
        "PMM_HA_ENABLE", "0",
        "PMM_HA_HTTP_PORT", String.valueOf(http),
        "PMM_HA_PROBE_PORT", String.valueOf(EntrypointRun.freePort()),
        "PMM_HA_BIND_ADDRESS", "127.0.0.1",
        "PMM_HA_DATA_DIR", tmp.resolve("data").toString(),
        "JAVA_OPTS", "-Xmx192m");
    try (EntrypointRun shell = EntrypointRun.start(noExec, env, List.of("node"), tmp.resolve("no-exec.log"))) {
      String readyz = "http://127.0.0.1:" + http + "/v1/readyz";
      shell.await("200 from " + readyz, Duration.ofSeconds(90), () -> EntrypointRun.status(readyz) == 200);
      assertTrue(shell.commandLine().get(0).endsWith("sh"), "the started PID is a shell: " + shell.commandLine());
      List<Long> children = shell.children();
      assertEquals(1, children.size(), "the JVM runs as the shell's child");
      ProcessHandle jvm = ProcessHandle.of(children.get(0)).orElseThrow();
      try {
        shell.sigterm();
        shell.waitExit(Duration.ofSeconds(10));
        Thread.sleep(2000);
        assertTrue(jvm.isAlive(), "the JVM did not get the signal");
        assertEquals(200, EntrypointRun.status(readyz), "and still serves");
      } finally {
        jvm.destroyForcibly();
        jvm.onExit().get(10, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void javaOptsReplaceTheDefaultsAndArgumentsReachTheJar(@TempDir Path tmp) {
    Map<String, String> env = Map.of(
        "PMM_HA_JAR", EntrypointRun.jar().toString(),
        "JAVA_OPTS", "-Xmx64m -XX:+PrintCommandLineFlags");
    try (EntrypointRun run = EntrypointRun.start(env, List.of("--help"), tmp.resolve("help.log"))) {
      assertEquals(0, run.waitExit(Duration.ofSeconds(60)), run.logText());
      String out = run.logText();
      assertTrue(out.contains("usage: java -jar pmm-ha.jar"), "--help reached the jar: " + out);
      assertTrue(out.contains("-XX:MaxHeapSize=67108864"), "JAVA_OPTS given to the JVM: " + out);
      assertFalse(out.contains("MaxRAMPercentage"), "the defaults are replaced, not added to: " + out);
    }
  }

  @Test
  void theStartUpArchiveIsUsedWhileNewerThanTheJarAndSkippedWithAWordOnceOlder(@TempDir Path tmp) throws Exception {
    Path jar = tmp.resolve("pmm-ha.jar");
    Files.copy(EntrypointRun.jar(), jar);
    Path make = tmp.resolve("make.log");
    ProcessBuilder pb = new ProcessBuilder(Repo.DOCKER.resolve("make-cds-archive.sh").toString(), jar.toString())
        .redirectErrorStream(true).redirectOutput(make.toFile());
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    Process training = pb.start();
    try {
      assertTrue(training.waitFor(180, TimeUnit.SECONDS), "the training run ends");
    } finally {
      training.destroyForcibly(); // by its own handle, and only if it is still running
    }
    Path archive = tmp.resolve("pmm-ha.jsa");
    assertEquals(0, training.exitValue(), Files.readString(make));
    assertTrue(Files.size(archive) > 10_000_000, "an archive of the node's classes: " + Files.size(archive) + " bytes");

    Map<String, String> env = Map.of("PMM_HA_JAR", jar.toString(), "JAVA_OPTS", "-Xlog:class+load=info");
    try (EntrypointRun run = EntrypointRun.start(env, List.of("--help"), tmp.resolve("with.log"))) {
      assertEquals(0, run.waitExit(Duration.ofSeconds(60)), run.logText());
      assertTrue(run.logText().contains("dev.pmmha.runtime.Main source: shared objects file"),
          "the node's classes come from the archive");
    }

    Files.setLastModifiedTime(jar, java.nio.file.attribute.FileTime.fromMillis(
        Files.getLastModifiedTime(archive).toMillis() + 60_000)); // the jar was rebuilt after the archive
    try (EntrypointRun run = EntrypointRun.start(env, List.of("--help"), tmp.resolve("without.log"))) {
      assertEquals(0, run.waitExit(Duration.ofSeconds(60)), run.logText());
      String out = run.logText();
      assertTrue(out.contains("the start-up archive " + archive + " is older than " + jar + " and is not used"), out);
      assertTrue(out.contains("dev.pmmha.runtime.Main source: file:"), "loaded from the jar instead");
    }
  }

  @Test
  void aMissingJarIsNamed(@TempDir Path tmp) {
    Path missing = tmp.resolve("no-such.jar");
    try (EntrypointRun run = EntrypointRun.start(Map.of("PMM_HA_JAR", missing.toString()), List.of(),
        tmp.resolve("missing.log"))) {
      assertEquals(2, run.waitExit(Duration.ofSeconds(10)), "exit code 2, as for bad configuration");
      String out = run.logText();
      assertTrue(out.contains(missing.toString()) && out.contains("PMM_HA_JAR"), out);
    }
  }
}
