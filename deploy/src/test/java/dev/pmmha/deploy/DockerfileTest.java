package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * deploy/docker/Dockerfile: a Maven build stage and a Temurin 17 JRE stage, an unprivileged user, the exec-form
 * entrypoint through deploy/docker/entrypoint.sh (the one launcher, also used by the failover lab), a
 * HEALTHCHECK on readyz. No Docker engine here: the file is checked as text; EntrypointIT runs the script.
 */
class DockerfileTest {

  static final Dockerfile DF = Dockerfile.parse(Repo.DOCKERFILE);

  @Test
  void buildsTheJarWithMavenThenRunsItOnATemurin17Jre() {
    assertTrue(DF.stages.size() >= 2, "multi-stage");
    Dockerfile.Stage build = DF.stages.get(0);
    assertEquals("build", build.name());
    String buildImage = DF.image(build);
    assertTrue(buildImage.startsWith("maven:") && buildImage.contains("temurin-17"), buildImage);
    assertTrue(build.all("RUN").stream().anyMatch(r -> r.args().contains("mvn ") && r.args().contains("-pl runtime -am")
        && r.args().contains("package")), "builds the runtime module and what it needs");
    String runImage = DF.image(DF.last());
    assertTrue(runImage.startsWith("eclipse-temurin:17-jre"), runImage);
    assertTrue(DF.last().instructions().contains(
        new Dockerfile.Instruction("COPY", "--from=build /src/runtime/target/pmm-ha.jar /opt/pmm-ha/pmm-ha.jar")));
    assertTrue(Repo.read(Repo.ROOT.resolve("runtime/pom.xml"))
        .contains("<outputFile>${project.build.directory}/pmm-ha.jar</outputFile>"), "where the runtime puts the jar");
    assertTrue(DF.last().all("ENV").stream().anyMatch(e -> e.args().contains("PMM_HA_JAR=/opt/pmm-ha/pmm-ha.jar")));
  }

  @Test
  void runsAsAnUnprivilegedUserAfterTheLastRootStep() {
    List<Dockerfile.Instruction> ins = DF.last().instructions();
    List<Dockerfile.Instruction> users = DF.last().all("USER");
    assertEquals(1, users.size());
    String user = users.get(0).args();
    assertTrue(user.matches("[1-9][0-9]*:[1-9][0-9]*"), "numeric uid:gid (Kubernetes' runAsNonRoot checks it): " + user);
    int at = ins.indexOf(users.get(0));
    assertTrue(ins.subList(at, ins.size()).stream().noneMatch(i -> i.keyword().equals("RUN")), "no RUN after USER");
    assertTrue(DF.text.contains("--uid " + user.split(":")[0]), "the user exists in the image");
    // the Deployment runs the pods as the same user
    assertTrue(Repo.read(Repo.K8S.resolve("base/deployment.yaml")).contains("runAsUser: " + user.split(":")[0]));
  }

  @Test
  void entrypointIsTheScriptInExecForm() {
    List<Dockerfile.Instruction> ep = DF.last().all("ENTRYPOINT");
    assertEquals(1, ep.size());
    assertEquals("[\"/opt/pmm-ha/entrypoint.sh\"]", ep.get(0).args(),
        "exec form (a JSON array): no shell between Docker and the script, which execs the JVM");
    assertTrue(DF.copies("deploy/docker/entrypoint.sh", "/opt/pmm-ha/entrypoint.sh"));
    assertTrue(DF.last().instructions().stream().anyMatch(i -> i.keyword().equals("COPY")
        && i.args().startsWith("--chmod=0755 deploy/docker/entrypoint.sh")), "executable in the image");
    assertEquals(List.of(new Dockerfile.Instruction("CMD", "[\"node\"]")), DF.last().all("CMD"));
  }

  @Test
  void theStartUpArchiveIsMadeForTheJarAtItsPathWhereTheEntrypointLooks() {
    assertTrue(DF.copies("deploy/docker/make-cds-archive.sh", "/opt/pmm-ha/make-cds-archive.sh"));
    List<Dockerfile.Instruction> ins = DF.last().instructions();
    int make = -1;
    for (int i = 0; i < ins.size(); i++) {
      if (ins.get(i).keyword().equals("RUN")
          && ins.get(i).args().contains("/opt/pmm-ha/make-cds-archive.sh /opt/pmm-ha/pmm-ha.jar /opt/pmm-ha/pmm-ha.jsa")) {
        make = i;
      }
    }
    assertTrue(make >= 0, "the final stage makes /opt/pmm-ha/pmm-ha.jsa for /opt/pmm-ha/pmm-ha.jar");
    int jar = ins.indexOf(new Dockerfile.Instruction("COPY", "--from=build /src/runtime/target/pmm-ha.jar /opt/pmm-ha/pmm-ha.jar"));
    assertTrue(jar >= 0 && jar < make, "after the jar is in place (the archive is bound to the jar's path and time)");
    // entrypoint.sh looks for the jar's path with .jsa for .jar
    assertTrue(Repo.read(Repo.ENTRYPOINT).contains("cds=\"${PMM_HA_CDS_ARCHIVE:-${jar%.jar}.jsa}\""));
  }

  @Test
  void healthcheckIsReadinessNotLeadership() {
    List<Dockerfile.Instruction> hc = DF.last().all("HEALTHCHECK");
    assertEquals(1, hc.size());
    String cmd = hc.get(0).args();
    assertTrue(cmd.contains("/v1/readyz"), cmd);
    assertTrue(cmd.contains("${PMM_HA_HTTP_PORT:-8080}"), "on the configured API port: " + cmd);
    assertFalse(cmd.contains("leaderHealthCheck"), "followers are healthy too");
    assertTrue(DF.last().all("RUN").stream().anyMatch(r -> r.args().contains(" curl")), "curl is installed for it");
  }

  @Test
  void memoryFlagsAreDefaultedAndDocumented() {
    String ep = Repo.read(Repo.ENTRYPOINT);
    assertTrue(ep.contains("${JAVA_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxRAMPercentage=75.0 "
        + "-XX:+ExitOnOutOfMemoryError -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30}"), "defaults");
    assertTrue(ep.contains("export MALLOC_ARENA_MAX=\"${MALLOC_ARENA_MAX:-2}\""), "two malloc arenas unless set");
    assertTrue(DF.text.contains("-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxRAMPercentage=75.0")
        && DF.text.contains("-XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30")
        && DF.text.contains("memory limit"),
        "the Dockerfile explains the memory flags");
  }

  @Test
  void oneEntrypointScriptForTheImageAndTheFailoverLab() throws IOException {
    try (Stream<Path> files = Files.walk(Repo.ROOT)) {
      List<Path> launchers = files
          .filter(p -> !p.toString().contains("/.git/") && !p.toString().contains("/target/"))
          .filter(p -> p.getFileName().toString().matches("(?i).*entrypoint.*\\.sh"))
          .toList();
      assertEquals(List.of(Repo.ENTRYPOINT), launchers, "one launcher script, two users");
    }
    assertTrue(Files.isExecutable(Repo.ENTRYPOINT));
  }

  @Test
  void scriptsArePosixSh() throws Exception {
    for (Path script : List.of(Repo.ENTRYPOINT, Repo.MAKE_CERT, Repo.PG_INIT)) {
      assertTrue(Repo.read(script).startsWith("#!/bin/sh\n"), script + ": #!/bin/sh");
      // dash is Debian's /bin/sh and knows no bashisms; parse only (-n)
      String shell = Files.isExecutable(Path.of("/usr/bin/dash")) ? "/usr/bin/dash" : "/bin/sh";
      Process p = new ProcessBuilder(shell, "-n", script.toString()).redirectErrorStream(true).start();
      assertTrue(p.waitFor(10, TimeUnit.SECONDS));
      assertEquals(0, p.exitValue(), script + ": " + new String(p.getInputStream().readAllBytes()));
    }
  }

  @Test
  void dockerignoreKeepsBuildOutputOutAndSourcesIn() {
    Path ignore = Repo.DOCKER.resolve("Dockerfile.dockerignore");
    List<String> patterns = Repo.read(ignore).lines().map(String::strip)
        .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    assertTrue(patterns.contains("**/target") && patterns.contains(".git"), patterns.toString());
    for (String source : List.of("pom.xml", "runtime/pom.xml", "deploy/pom.xml", "application.conf",
        "conf/cluster.conf", "runtime/src/main/java/dev/pmmha/runtime/Main.java", "deploy/docker/entrypoint.sh",
        "deploy/haproxy/make-cert.sh", "deploy/pmm/pmm-supervisor")) {
      assertTrue(Files.exists(Repo.ROOT.resolve(source)), source);
      for (String pattern : patterns) {
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
        PathMatcher under = FileSystems.getDefault().getPathMatcher("glob:" + pattern + "/**");
        Path p = Path.of(source);
        assertFalse(m.matches(p) || under.matches(p), pattern + " would leave " + source + " out of the build");
      }
    }
  }

  @Test
  void theContextsOwnDockerignoreMatchesTheDockerfiles() {
    // BuildKit reads Dockerfile.dockerignore; docker-compose 1.x, the classic builder and podman read only the
    // context root's .dockerignore: both must leave the same files out
    java.util.function.Function<Path, List<String>> patterns = f -> Repo.read(f).lines().map(String::strip)
        .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    assertEquals(patterns.apply(Repo.DOCKER.resolve("Dockerfile.dockerignore")),
        patterns.apply(Repo.ROOT.resolve(".dockerignore")));
  }
}
