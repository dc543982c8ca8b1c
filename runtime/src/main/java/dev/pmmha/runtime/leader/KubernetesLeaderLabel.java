package dev.pmmha.runtime.leader;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import dev.pmmha.runtime.config.NodeSettings;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the label {@code pmm-ha/role=leader} on exactly the leader's pod, so that a Kubernetes Service selecting
 * it routes to the leader with no HAProxy (as Patroni labels its primary). A node that gains leadership first
 * removes the label from every other pod (a crashed leader's pod keeps its labels until its container restarts),
 * then labels its own; a node that loses leadership, or starts, removes its own label first. Runs on the
 * role-change queue, so changes apply one at a time and in order.
 */
public final class KubernetesLeaderLabel {

  private static final Logger log = LoggerFactory.getLogger(KubernetesLeaderLabel.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String apiUrl;
  private final Path tokenPath;
  private final String namespace;
  private final String pod;
  private final String labelKey;
  private final String labelValue;
  private final HttpClient client;

  private KubernetesLeaderLabel(String apiUrl, Path tokenPath, String namespace, String pod, String label, SSLContext ssl) {
    this.apiUrl = apiUrl;
    this.tokenPath = tokenPath;
    this.namespace = namespace;
    this.pod = pod;
    int eq = label.indexOf('=');
    this.labelKey = label.substring(0, eq);
    this.labelValue = label.substring(eq + 1);
    HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3));
    if (ssl != null) {
      b.sslContext(ssl);
    }
    this.client = b.build();
  }

  /** The labeller, when this node runs with Kubernetes discovery (or {@code label-leader = on}); else null. */
  public static KubernetesLeaderLabel create(Config root, NodeSettings node) {
    Config c = root.getConfig("pmm-ha.kubernetes");
    String mode = c.getString("label-leader").trim().toLowerCase(java.util.Locale.ROOT);
    boolean on = mode.equals("auto") ? node.haEnabled() && node.discovery().equals("kubernetes")
        : NodeSettings.parseBool(mode, "PMM_HA_K8S_LABEL_LEADER");
    if (!on) {
      return null;
    }
    String url = c.getString("api-url").trim();
    if (url.isEmpty()) {
      String host = System.getenv("KUBERNETES_SERVICE_HOST");
      String port = System.getenv("KUBERNETES_SERVICE_PORT");
      if (host == null || port == null) {
        log.warn("Not labelling the leader's pod: KUBERNETES_SERVICE_HOST/PORT are not set (not in a pod?)");
        return null;
      }
      url = "https://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
    String ns = c.getString("namespace").trim();
    try {
      if (ns.isEmpty()) {
        ns = Files.readString(Path.of(c.getString("namespace-path"))).trim();
      }
      String pod = c.getString("pod-name").trim().isEmpty() ? node.nodeId() : c.getString("pod-name").trim();
      SSLContext ssl = url.startsWith("https:") ? trusting(Path.of(c.getString("ca-path"))) : null;
      return new KubernetesLeaderLabel(url, Path.of(c.getString("token-path")), ns, pod, c.getString("label"), ssl);
    } catch (Exception e) {
      log.warn("Not labelling the leader's pod: {}", FenceClient.firstLine(e));
      return null;
    }
  }

  /**
   * The namespace of this node's pod, for PMM's {@code /v1/ha/status}: {@code pmm-ha.kubernetes.namespace}
   * (PMM_HA_K8S_NAMESPACE) if set, else, in a pod ({@code KUBERNETES_SERVICE_HOST} set), the service account's
   * namespace file, as the discovery reads it; empty when not on Kubernetes or when the pod mounts no token.
   */
  public static String podNamespace(Config root, java.util.Map<String, String> env) {
    Config c = root.getConfig("pmm-ha.kubernetes");
    String ns = c.getString("namespace").trim();
    if (!ns.isEmpty() || env.get("KUBERNETES_SERVICE_HOST") == null) {
      return ns;
    }
    Path file = Path.of(c.getString("namespace-path"));
    try {
      return Files.readString(file).trim();
    } catch (java.io.IOException e) {
      log.info("Namespace unknown (/v1/ha/status reports none): cannot read {}: {}", file, e.toString());
      return "";
    }
  }

  private static SSLContext trusting(Path ca) throws Exception {
    KeyStore ts = KeyStore.getInstance("PKCS12");
    ts.load(null, null);
    int i = 0;
    for (Certificate cert : CertificateFactory.getInstance("X.509")
        .generateCertificates(new ByteArrayInputStream(Files.readAllBytes(ca)))) {
      ts.setCertificateEntry("ca-" + i++, cert);
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ts);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, tmf.getTrustManagers(), null);
    return ctx;
  }

  /** Applies a role change; retried a few times, then logged (the next change tries again). */
  void roleChanged(String role) {
    for (int attempt = 1; attempt <= 3; attempt++) {
      try {
        if (role.equals("leader")) {
          for (JsonNode other : labelledPods()) {
            String name = other.path("metadata").path("name").asText();
            if (!name.equals(pod)) {
              patch(name, null);
              log.info("LABEL removed {}={} from pod {} (a former leader)", labelKey, labelValue, name);
            }
          }
          patch(pod, labelValue);
          log.info("LABEL {}={} set on pod {}", labelKey, labelValue, pod);
        } else {
          patch(pod, null);
        }
        return;
      } catch (Exception e) {
        log.warn("LABEL update for {} failed (attempt {}): {}", role, attempt, FenceClient.firstLine(e));
        try {
          Thread.sleep(500L * attempt);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  private Iterable<JsonNode> labelledPods() throws Exception {
    String selector = URLEncoder.encode(labelKey + "=" + labelValue, StandardCharsets.UTF_8);
    HttpResponse<String> r = client.send(request("/api/v1/namespaces/" + namespace + "/pods?labelSelector=" + selector)
        .GET().build(), HttpResponse.BodyHandlers.ofString());
    check(r, "list pods");
    return JSON.readTree(r.body()).path("items");
  }

  private void patch(String podName, String value) throws Exception {
    String body = "{\"metadata\":{\"labels\":{" + JSON.writeValueAsString(labelKey) + ":"
        + (value == null ? "null" : JSON.writeValueAsString(value)) + "}}}";
    HttpResponse<String> r = client.send(request("/api/v1/namespaces/" + namespace + "/pods/" + podName)
        .header("Content-Type", "application/merge-patch+json")
        .method("PATCH", HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    check(r, "patch pod " + podName);
  }

  private HttpRequest.Builder request(String path) throws java.io.IOException {
    return HttpRequest.newBuilder(URI.create(apiUrl + path)).timeout(Duration.ofSeconds(5))
        .header("Authorization", "Bearer " + Files.readString(tokenPath).trim()); // re-read: tokens rotate
  }

  private static void check(HttpResponse<String> r, String what) {
    if (r.statusCode() / 100 != 2) {
      throw new IllegalStateException(what + ": HTTP " + r.statusCode() + " " + r.body().lines().findFirst().orElse(""));
    }
  }
}
