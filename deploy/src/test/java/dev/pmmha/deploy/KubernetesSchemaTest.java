package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The offline validator finds what the API server would refuse: it is not a parser that accepts anything. */
class KubernetesSchemaTest {

  static final String DEPLOYMENT = """
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: demo
        labels: {app: demo, tier: web}
      spec:
        replicas: 1
        selector:
          matchLabels: {app: demo}
        template:
          metadata:
            labels: {app: demo}
          spec:
            containers:
              - name: demo
                image: demo:1
                ports:
                  - {name: http, containerPort: 8080}
                env:
                  - {name: A, value: "1"}
                readinessProbe:
                  httpGet: {path: /ready, port: http}
                resources:
                  requests: {cpu: 100m, memory: 64Mi}
      """;

  static JsonNode doc(String yaml) {
    return Kustomize.parseAll(yaml).get(0);
  }

  @Test
  void aValidDeploymentPasses() {
    Deployment d = (Deployment) KubernetesSchema.validate(doc(DEPLOYMENT));
    assertEquals("demo:1", d.getSpec().getTemplate().getSpec().getContainers().get(0).getImage());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "misspelt field|readinessProbe:|readinesProbe:|readinesProbe: unknown field",
      "field at the wrong level|spec:\\n      containers:|spec:\\n      replicas: 2\\n      containers:|spec.replicas: unknown field",
      "number where a string belongs|{name: A, value: \"1\"}|{name: A, value: 1}|does not match",
      "string where a number belongs|containerPort: 8080|containerPort: \"8080\"|does not match",
      "port name longer than 15 characters|name: http, containerPort|name: management-https, containerPort|not a valid port name",
      "probe on a port the container lacks|port: http}|port: web}|not a port of the container",
      "selector that misses the template|matchLabels: {app: demo}|matchLabels: {app: other}|do not match spec.selector",
      "bad quantity|memory: 64Mi|memory: 64 MiB|not a quantity",
      "bad label value|tier: web|tier: -web-|invalid label value",
      "upper case name|name: demo\\n  labels|name: Demo\\n  labels|not a valid Deployment name",
      "env with no value and valueFrom|{name: A, value: \"1\"}|{name: A}|exactly one of value and valueFrom",
      "old API version|apps/v1|extensions/v1beta1|not a kind this validator knows"})
  void rejects(String what, String from, String to, String message) {
    String yaml = DEPLOYMENT.replace(from.replace("\\n", "\n"), to.replace("\\n", "\n"));
    assertTrue(!yaml.equals(DEPLOYMENT), what + ": the mutation applies");
    AssertionError e = assertThrows(AssertionError.class, () -> KubernetesSchema.validate(doc(yaml)), what);
    assertTrue(e.getMessage().contains(message), what + ": " + e.getMessage());
  }

  @Test
  void unknownFieldsAreFoundDeepInsideAndAllReported() {
    String yaml = DEPLOYMENT.replace("httpGet: {path: /ready, port: http}",
        "httpGet: {path: /ready, port: http, sheme: HTTP}\n            initialDelay: 5");
    AssertionError e = assertThrows(AssertionError.class, () -> KubernetesSchema.validate(doc(yaml)));
    for (String path : List.of("readinessProbe.httpGet.sheme: unknown field", "readinessProbe.initialDelay: unknown field")) {
      assertTrue(e.getMessage().contains(path), e.getMessage());
    }
  }
}
