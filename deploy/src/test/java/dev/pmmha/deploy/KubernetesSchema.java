package dev.pmmha.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An offline stand-in for the Kubernetes API server's checks on a manifest: the object is read into the fabric8
 * Kubernetes model classes (the API's schema as Java types), with every field that has no place in the schema
 * reported (the classes keep unknown fields aside instead of failing, so each object is walked for them), no
 * scalar coerced to another type (the API server rejects {@code value: 1} where a string belongs), and the API
 * server's validation rules that the schema alone does not carry: names, labels, port names, env names, probe
 * ports, selectors that match their template, quantities.
 */
final class KubernetesSchema {

  private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
      "v1/ServiceAccount", ServiceAccount.class,
      "v1/Secret", Secret.class,
      "v1/ConfigMap", ConfigMap.class,
      "v1/Service", Service.class,
      "apps/v1/Deployment", Deployment.class,
      "policy/v1/PodDisruptionBudget", PodDisruptionBudget.class,
      "rbac.authorization.k8s.io/v1/Role", Role.class,
      "rbac.authorization.k8s.io/v1/RoleBinding", RoleBinding.class);

  static final ObjectMapper MAPPER = strictMapper();

  private static final String DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
  private static final String DNS1123_SUBDOMAIN = DNS1123_LABEL + "(\\." + DNS1123_LABEL + ")*";
  private static final String DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?";
  private static final String QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
  private static final String LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
  private static final String ENV_NAME = "[-._a-zA-Z][-._a-zA-Z0-9]*";

  private KubernetesSchema() {}

  private static ObjectMapper strictMapper() {
    ObjectMapper m = new ObjectMapper();
    m.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    m.enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
    m.enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);
    for (CoercionInputShape shape : List.of(CoercionInputShape.Integer, CoercionInputShape.Float,
        CoercionInputShape.Boolean)) {
      m.coercionConfigFor(LogicalType.Textual).setCoercion(shape, CoercionAction.Fail);
    }
    for (LogicalType numeric : List.of(LogicalType.Integer, LogicalType.Float, LogicalType.Boolean)) {
      m.coercionConfigFor(numeric).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
    }
    m.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
    return m;
  }

  /** Reads one manifest into its API type; throws with every problem found, each with its path. */
  static HasMetadata validate(JsonNode doc) {
    String apiVersion = doc.path("apiVersion").asText("");
    String kind = doc.path("kind").asText("");
    String where = kind + "/" + doc.path("metadata").path("name").asText("?");
    Class<? extends HasMetadata> type = KINDS.get(apiVersion + "/" + kind);
    if (type == null) {
      throw new AssertionError(where + ": " + apiVersion + " " + kind
          + " is not a kind this validator knows (add its fabric8 class to KubernetesSchema.KINDS)");
    }
    HasMetadata obj;
    try {
      obj = MAPPER.treeToValue(doc, type);
    } catch (Exception e) {
      throw new AssertionError(where + ": does not match the " + apiVersion + " " + kind + " schema: "
          + e.getMessage().lines().findFirst().orElse(""), e);
    }
    List<String> problems = new ArrayList<>();
    unknownFields(obj, kind, problems);
    rules(obj, problems);
    if (!problems.isEmpty()) {
      throw new AssertionError(where + ":\n  " + String.join("\n  ", problems));
    }
    return obj;
  }

  /** Fields the schema has no place for, anywhere in the object. */
  private static void unknownFields(Object o, String path, List<String> problems) {
    if (o == null) {
      return;
    }
    if (o instanceof List<?> list) {
      for (int i = 0; i < list.size(); i++) {
        unknownFields(list.get(i), path + "[" + i + "]", problems);
      }
      return;
    }
    if (o instanceof Map<?, ?> map) {
      map.forEach((k, v) -> unknownFields(v, path + "." + k, problems));
      return;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return;
    }
    if (o instanceof Quantity q) {
      try {
        q.getNumericalAmount();
      } catch (RuntimeException e) {
        problems.add(path + ": not a quantity: " + q);
      }
      return;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || !m.getName().startsWith("get")
          || m.getDeclaringClass() == Object.class || m.getDeclaringClass().isInterface()) {
        continue;
      }
      Object value;
      try {
        value = m.invoke(o);
      } catch (IllegalAccessException | InvocationTargetException e) {
        continue;
      }
      if (m.getName().equals("getAdditionalProperties")) {
        if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
          for (Object key : extra.keySet()) {
            problems.add(path + "." + key + ": unknown field");
          }
        }
        continue;
      }
      String field = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
      unknownFields(value, path + "." + field, problems);
    }
  }

  /** The API server's validation rules for what this project's manifests use. */
  private static void rules(HasMetadata obj, List<String> problems) {
    String name = obj.getMetadata() == null ? null : obj.getMetadata().getName();
    String nameRule = obj instanceof Service ? DNS1035_LABEL : DNS1123_SUBDOMAIN;
    if (name == null || !name.matches(nameRule) || name.length() > (obj instanceof Service ? 63 : 253)) {
      problems.add("metadata.name: \"" + name + "\" is not a valid " + obj.getKind() + " name");
    }
    labels("metadata.labels", obj.getMetadata().getLabels(), problems);
    if (obj instanceof Deployment d) {
      var spec = d.getSpec();
      LabelSelector sel = spec.getSelector();
      if (sel == null || sel.getMatchLabels() == null || sel.getMatchLabels().isEmpty()) {
        problems.add("spec.selector: required");
      } else if (!matches(sel, spec.getTemplate().getMetadata().getLabels())) {
        problems.add("spec.template.metadata.labels: do not match spec.selector");
      }
      labels("spec.template.metadata.labels", spec.getTemplate().getMetadata().getLabels(), problems);
      pod(spec.getTemplate().getSpec(), problems);
    } else if (obj instanceof Service s) {
      labels("spec.selector", s.getSpec().getSelector(), problems);
      Set<String> names = new HashSet<>();
      for (ServicePort p : s.getSpec().getPorts()) {
        port("spec.ports", p.getPort(), problems);
        if (s.getSpec().getPorts().size() > 1 && (p.getName() == null || !names.add(p.getName()))) {
          problems.add("spec.ports: a Service with several ports needs a unique name on each");
        }
        if (p.getTargetPort() != null && p.getTargetPort().getStrVal() != null) {
          portName("spec.ports.targetPort", p.getTargetPort().getStrVal(), problems);
        }
      }
    } else if (obj instanceof PodDisruptionBudget pdb) {
      LabelSelector sel = pdb.getSpec().getSelector();
      if (sel == null || sel.getMatchLabels() == null || sel.getMatchLabels().isEmpty()) {
        problems.add("spec.selector: an empty selector would cover every pod of the namespace");
      }
    } else if (obj instanceof Role r) {
      r.getRules().forEach(rule -> {
        if (rule.getVerbs() == null || rule.getVerbs().isEmpty()) {
          problems.add("rules.verbs: required");
        }
      });
    }
  }

  private static void pod(PodSpec pod, List<String> problems) {
    for (Container c : pod.getContainers()) {
      String at = "containers[" + c.getName() + "]";
      if (c.getName() == null || !c.getName().matches(DNS1123_LABEL) || c.getName().length() > 63) {
        problems.add(at + ".name: not a DNS-1123 label");
      }
      if (c.getImage() == null || c.getImage().isBlank()) {
        problems.add(at + ".image: required");
      }
      Set<String> portNames = new HashSet<>();
      for (ContainerPort p : c.getPorts()) {
        port(at + ".ports", p.getContainerPort(), problems);
        if (p.getName() != null) {
          portName(at + ".ports.name", p.getName(), problems);
          if (!portNames.add(p.getName())) {
            problems.add(at + ".ports: duplicate name " + p.getName());
          }
        }
      }
      for (EnvVar e : c.getEnv()) {
        if (e.getName() == null || !e.getName().matches(ENV_NAME)) {
          problems.add(at + ".env: invalid name " + e.getName());
        }
        if ((e.getValue() != null) == (e.getValueFrom() != null)) {
          problems.add(at + ".env[" + e.getName() + "]: exactly one of value and valueFrom");
        }
      }
      for (Probe probe : new Probe[] {c.getStartupProbe(), c.getReadinessProbe(), c.getLivenessProbe()}) {
        if (probe != null && probe.getHttpGet() != null) {
          HTTPGetAction get = probe.getHttpGet();
          IntOrString port = get.getPort();
          if (port == null) {
            problems.add(at + ": a probe without a port");
          } else if (port.getStrVal() != null && !portNames.contains(port.getStrVal())) {
            problems.add(at + ": probe port " + port.getStrVal() + " is not a port of the container");
          }
          if (get.getPath() == null || !get.getPath().startsWith("/")) {
            problems.add(at + ": probe path must start with /");
          }
        }
      }
    }
  }

  private static void port(String at, Integer port, List<String> problems) {
    if (port == null || port < 1 || port > 65535) {
      problems.add(at + ": port " + port + " outside 1-65535");
    }
  }

  /** IANA_SVC_NAME: at most 15 characters, lower case letters, digits and '-', at least one letter. */
  private static void portName(String at, String name, List<String> problems) {
    if (name.length() > 15 || !name.matches("[a-z0-9]([a-z0-9-]*[a-z0-9])?") || name.contains("--")
        || !name.matches(".*[a-z].*")) {
      problems.add(at + ": \"" + name + "\" is not a valid port name (IANA_SVC_NAME)");
    }
  }

  private static void labels(String at, Map<String, String> labels, List<String> problems) {
    if (labels == null) {
      return;
    }
    labels.forEach((k, v) -> {
      String[] parts = k.split("/", -1);
      boolean keyOk = parts.length == 1
          ? k.matches(QUALIFIED_NAME) && k.length() <= 63
          : parts.length == 2 && parts[0].matches(DNS1123_SUBDOMAIN) && parts[0].length() <= 253
              && parts[1].matches(QUALIFIED_NAME) && parts[1].length() <= 63;
      if (!keyOk) {
        problems.add(at + ": invalid label key " + k);
      }
      if (v == null || !v.matches(LABEL_VALUE) || v.length() > 63) {
        problems.add(at + ": invalid label value " + k + "=" + v);
      }
    });
  }

  /** Whether a matchLabels selector (the only form used here) selects these labels. */
  static boolean matches(LabelSelector selector, Map<String, String> labels) {
    if (selector.getMatchExpressions() != null && !selector.getMatchExpressions().isEmpty()) {
      throw new IllegalArgumentException("matchExpressions are not used in these manifests");
    }
    return matches(selector.getMatchLabels(), labels);
  }

  static boolean matches(Map<String, String> selector, Map<String, String> labels) {
    return labels != null && selector.entrySet().stream()
        .allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
  }
}
