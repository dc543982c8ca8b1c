package dev.pmmha.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * compose.yaml as Docker Compose reads it: variables interpolated from a .env file (the forms compose.yaml uses:
 * {@code ${VAR}}, {@code ${VAR:-default}}, {@code ${VAR-default}}, {@code ${VAR:?message}}, {@code ${VAR?message}},
 * {@code $$}), then parsed. Docker Compose itself is not installed here, so this is the part of it the tests need.
 */
final class Compose {

  private static final Pattern VAR = Pattern.compile("\\$\\$|\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?}|\\$([A-Za-z_])");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  final JsonNode root;

  private Compose(JsonNode root) {
    this.root = root;
  }

  static Compose load(Path composeFile, Map<String, String> env) {
    try {
      return new Compose(YAML.readTree(interpolate(Repo.read(composeFile), env)));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot parse " + composeFile, e);
    }
  }

  /** KEY=VALUE lines of a .env file; blank lines and # comments skipped. */
  static Map<String, String> dotEnv(Path file) {
    Map<String, String> env = new LinkedHashMap<>();
    for (String line : Repo.read(file).split("\n")) {
      String l = line.trim();
      if (l.isEmpty() || l.startsWith("#")) {
        continue;
      }
      int eq = l.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(file + ": not KEY=VALUE: " + line);
      }
      env.put(l.substring(0, eq).trim(), l.substring(eq + 1).trim());
    }
    return env;
  }

  static String interpolate(String text, Map<String, String> env) {
    Matcher m = VAR.matcher(text);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String token = m.group();
      String replacement;
      if (token.equals("$$")) {
        replacement = "$";
      } else if (m.group(4) != null) {
        throw new IllegalArgumentException("use ${" + m.group(4) + "...} with braces in compose.yaml: " + token);
      } else {
        String name = m.group(1);
        String op = m.group(2);
        String arg = m.group(3);
        String value = env.get(name);
        boolean unsetOrEmpty = value == null || value.isEmpty();
        if (op == null) {
          replacement = value == null ? "" : value;
        } else {
          switch (op) {
            case ":-" -> replacement = unsetOrEmpty ? arg : value;
            case "-" -> replacement = value == null ? arg : value;
            case ":?" -> {
              if (unsetOrEmpty) {
                throw new MissingVariable(name, arg);
              }
              replacement = value;
            }
            case "?" -> {
              if (value == null) {
                throw new MissingVariable(name, arg);
              }
              replacement = value;
            }
            case ":+" -> replacement = unsetOrEmpty ? "" : arg;
            case "+" -> replacement = value == null ? "" : arg;
            default -> throw new IllegalArgumentException("unsupported interpolation " + token);
          }
        }
      }
      m.appendReplacement(out, Matcher.quoteReplacement(replacement));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** Names of the variables compose.yaml refers to, and which of them have no default. */
  static Map<String, Boolean> variables(String text) {
    Map<String, Boolean> vars = new LinkedHashMap<>();
    Matcher m = VAR.matcher(text);
    while (m.find()) {
      if (m.group(1) != null) {
        String op = m.group(2);
        boolean hasDefault = op != null && (op.equals(":-") || op.equals("-"));
        vars.merge(m.group(1), hasDefault, (a, b) -> a && b);
      }
    }
    return vars;
  }

  static final class MissingVariable extends RuntimeException {
    final String name;

    MissingVariable(String name, String message) {
      super(name + ": " + message);
      this.name = name;
    }
  }

  JsonNode service(String name) {
    JsonNode s = root.path("services").path(name);
    if (s.isMissingNode()) {
      throw new AssertionError("compose.yaml has no service " + name);
    }
    return s;
  }

  Set<String> serviceNames() {
    Set<String> names = new LinkedHashSet<>();
    root.path("services").fieldNames().forEachRemaining(names::add);
    return names;
  }

  /** A service's environment as a map (compose allows a map or a list of KEY=VALUE). */
  static Map<String, String> environment(JsonNode service) {
    Map<String, String> env = new LinkedHashMap<>();
    JsonNode e = service.path("environment");
    if (e.isObject()) {
      e.fields().forEachRemaining(f -> env.put(f.getKey(), f.getValue().isNull() ? "" : f.getValue().asText()));
    } else if (e.isArray()) {
      for (JsonNode item : e) {
        String s = item.asText();
        int eq = s.indexOf('=');
        env.put(eq < 0 ? s : s.substring(0, eq), eq < 0 ? "" : s.substring(eq + 1));
      }
    }
    return env;
  }

  static String ipv4(JsonNode service, String network) {
    return service.path("networks").path(network).path("ipv4_address").asText(null);
  }

  static List<String> strings(JsonNode arrayOrMissing) {
    List<String> out = new ArrayList<>();
    arrayOrMissing.forEach(n -> out.add(n.asText()));
    return out;
  }

  /** A compose duration such as 30s, 1m30s or 500ms. */
  static Duration duration(String text) {
    Matcher m = Pattern.compile("(\\d+)(ms|us|h|m|s)").matcher(text.trim());
    Duration d = Duration.ZERO;
    int end = 0;
    while (m.find()) {
      if (m.start() != end) {
        throw new IllegalArgumentException("not a compose duration: " + text);
      }
      end = m.end();
      long n = Long.parseLong(m.group(1));
      d = d.plus(switch (m.group(2)) {
        case "h" -> Duration.ofHours(n);
        case "m" -> Duration.ofMinutes(n);
        case "s" -> Duration.ofSeconds(n);
        case "ms" -> Duration.ofMillis(n);
        default -> Duration.ofNanos(n * 1000);
      });
    }
    if (end != text.trim().length() || end == 0) {
      throw new IllegalArgumentException("not a compose duration: " + text);
    }
    return d;
  }
}
