package dev.pmmha.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A rendered kustomization: its objects, each validated against the API schema as it is read. */
final class Manifests {

  final List<HasMetadata> objects = new ArrayList<>();

  Manifests(List<JsonNode> docs) {
    for (JsonNode doc : docs) {
      objects.add(KubernetesSchema.validate(doc));
    }
  }

  /**
   * Creates every object through the API, as {@code kubectl apply -n ns} would, and reads each back: the same
   * object but for the metadata the server sets. An object the server refuses fails here.
   */
  void createIn(KubernetesClient api, String ns) {
    for (HasMetadata o : objects) {
      String id = o.getKind() + "/" + o.getMetadata().getName();
      HasMetadata created = api.resource(o).inNamespace(ns).create();
      if (created.getMetadata().getUid() == null) {
        throw new AssertionError(id + ": created with no uid");
      }
      HasMetadata read = api.resource(o).inNamespace(ns).get();
      if (read == null) {
        throw new AssertionError(id + ": not found in " + ns + " after its creation");
      }
      if (!withoutServerFields(o).equals(withoutServerFields(read))) {
        throw new AssertionError(id + " as stored in " + ns + ":\n" + withoutServerFields(read) + "\nrendered:\n"
            + withoutServerFields(o));
      }
    }
  }

  private static JsonNode withoutServerFields(HasMetadata o) {
    ObjectNode json = Serialization.jsonMapper().valueToTree(o);
    ((ObjectNode) json.path("metadata"))
        .remove(List.of("uid", "resourceVersion", "creationTimestamp", "generation", "namespace"));
    return json;
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  <T extends HasMetadata> T get(Class<T> type, String name) {
    return all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name + " in the render"));
  }

  /** A ConfigMap by the name given to its generator (kustomize appends a content hash). */
  ConfigMap generatedConfigMap(String name) {
    return all(ConfigMap.class).stream().filter(c -> c.getMetadata().getName().matches(name + "-[a-z0-9]{10}"))
        .findFirst().orElseThrow(() -> new AssertionError("no generated ConfigMap " + name));
  }

  static Container container(Deployment d, String name) {
    return d.getSpec().getTemplate().getSpec().getContainers().stream().filter(c -> c.getName().equals(name))
        .findFirst().orElseThrow(() -> new AssertionError(d.getMetadata().getName() + " has no container " + name));
  }

  static int port(Container c, String name) {
    return c.getPorts().stream().filter(p -> name.equals(p.getName())).map(ContainerPort::getContainerPort)
        .findFirst().orElseThrow(() -> new AssertionError(c.getName() + " has no port named " + name));
  }

  /** A Secret's data, decoded (stringData wins over data, as the API server merges them). */
  static Map<String, String> data(Secret s) {
    Map<String, String> out = new LinkedHashMap<>();
    if (s.getData() != null) {
      s.getData().forEach((k, v) -> out.put(k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
    }
    if (s.getStringData() != null) {
      out.putAll(s.getStringData());
    }
    return out;
  }

  /**
   * A container's environment as the kubelet gives it to the process: literal values, field references filled
   * from the given pod fields, secret references from the rendered Secrets.
   */
  Map<String, String> environment(Container c, Map<String, String> podFields) {
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar e : c.getEnv()) {
      if (e.getValue() != null) {
        env.put(e.getName(), e.getValue());
      } else if (e.getValueFrom().getFieldRef() != null) {
        String field = e.getValueFrom().getFieldRef().getFieldPath();
        if (!podFields.containsKey(field)) {
          throw new AssertionError(e.getName() + ": no value given for pod field " + field);
        }
        env.put(e.getName(), podFields.get(field));
      } else if (e.getValueFrom().getSecretKeyRef() != null) {
        var ref = e.getValueFrom().getSecretKeyRef();
        Map<String, String> data = data(get(Secret.class, ref.getName()));
        if (!data.containsKey(ref.getKey())) {
          throw new AssertionError(e.getName() + ": Secret " + ref.getName() + " has no key " + ref.getKey());
        }
        env.put(e.getName(), data.get(ref.getKey()));
      } else {
        throw new AssertionError(e.getName() + ": a kind of valueFrom these tests do not resolve");
      }
    }
    return env;
  }
}
