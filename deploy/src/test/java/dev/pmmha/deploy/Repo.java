package dev.pmmha.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the checkout under test: the repository root and the deployment files in it. */
final class Repo {

  static final Path ROOT = Path.of(System.getProperty("pmmha.root", "..")).toAbsolutePath().normalize();
  static final Path DEPLOY = ROOT.resolve("deploy");
  static final Path DOCKER = DEPLOY.resolve("docker");
  static final Path HAPROXY = DEPLOY.resolve("haproxy");
  static final Path K8S = DEPLOY.resolve("k8s");
  static final Path ENTRYPOINT = DOCKER.resolve("entrypoint.sh");
  static final Path COMPOSE = DOCKER.resolve("compose.yaml");
  static final Path ENV_EXAMPLE = DOCKER.resolve(".env.example");
  static final Path DOCKERFILE = DOCKER.resolve("Dockerfile");
  static final Path PG_INIT = DOCKER.resolve("postgres").resolve("init-pmm-ha.sh");
  static final Path MAKE_CERT = HAPROXY.resolve("make-cert.sh");
  static final Path MAKE_CERTS = DEPLOY.resolve("tls").resolve("make-certs.sh");

  private Repo() {}

  static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + p, e);
    }
  }

  static String projectVersion() {
    String pom = read(ROOT.resolve("pom.xml"));
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("<artifactId>pmm-ha-parent</artifactId>\\s*<version>([^<]+)</version>")
            .matcher(pom);
    if (!m.find()) {
      throw new IllegalStateException("no version in the root pom.xml");
    }
    return m.group(1);
  }
}
