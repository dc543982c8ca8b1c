package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code kubectl kustomize DIR}: renders a kustomization offline and returns its objects. Without kubectl the
 * calling test is skipped (not failed), with a message that says so.
 */
final class Kustomize {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private Kustomize() {}

  static Path kubectl() {
    var kubectl = Tools.find("kubectl");
    assumeTrue(kubectl.isPresent(),
        "kubectl is not installed: the Kubernetes manifests were not rendered or checked "
            + "(install kubectl, e.g. apt-get install kubectl from pkgs.k8s.io, to run these tests)");
    return kubectl.get();
  }

  static List<JsonNode> render(Path kustomization) {
    Tools.Result r = Tools.run(Tools.cmd(kubectl(), "kustomize", kustomization), Map.of(), null, 120);
    if (r.exitCode() != 0) {
      throw new AssertionError("kubectl kustomize " + kustomization + " failed:\n" + r.stderr());
    }
    return parseAll(r.stdout());
  }

  static List<JsonNode> parseAll(String yaml) {
    List<JsonNode> docs = new ArrayList<>();
    try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
      while (it.hasNext()) {
        JsonNode n = it.next();
        if (n != null && !n.isNull() && !n.isMissingNode()) {
          docs.add(n);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return docs;
  }
}
