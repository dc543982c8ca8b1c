package dev.pmmha.deploy;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The Kubernetes API for tests: fabric8's API server mock in CRUD mode (it stores what is created, and implements
 * label selectors, merge patches and watches), over HTTPS with a self-signed certificate for {@code localhost},
 * with a client that sends the given service account token. The mock checks no token: every request is recorded
 * (the CRUD code consumes the body, so it is copied first) for the test to check.
 */
final class ApiServer implements AutoCloseable {

  /** A request as it came. */
  record Call(String method, String path, String authorization, String contentType, String body) {}

  final List<Call> calls = new CopyOnWriteArrayList<>();
  final KubernetesClient client;
  /** The server's certificate in PEM: the CA file a pod's service account mount would hold. */
  final Path ca;
  private final KubernetesMockServer server;

  ApiServer(String token) {
    server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), new HashMap<>(),
        new KubernetesMixedDispatcher(new HashMap<>()) {
          @Override
          public MockResponse dispatch(RecordedRequest r) {
            calls.add(new Call(r.getMethod(), r.getPath(), r.getHeader("Authorization"), r.getHeader("Content-Type"),
                new String(r.getBody().getBytes(), StandardCharsets.UTF_8)));
            MockResponse response = super.dispatch(r);
            // the mock sends its JSON with no Content-Type, which Pekko's discovery refuses (as octet-stream);
            // the API server labels it application/json
            if (response.header("Content-Type") == null && response.getBody() != null
                && response.getBody().size() > 0) {
              response.setHeader("Content-Type", "application/json");
            }
            return response;
          }
        }, true);
    server.init();
    ca = Path.of(server.getSelfSignedCertificate().certificatePath());
    client = new KubernetesClientBuilder().withConfig(new ConfigBuilder().withMasterUrl(server.url("/"))
        .withCaCertFile(ca.toString()).withOauthToken(token).build()).build();
  }

  /** KUBERNETES_SERVICE_HOST: the name the certificate is for. */
  String host() {
    return server.getHostName();
  }

  /** KUBERNETES_SERVICE_PORT. */
  int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
  }
}
