package dev.pmmha.runtime.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigResolveOptions;
import java.util.HashMap;
import java.util.Map;

/**
 * Loads the one application config (application.conf over the modules' reference.conf) against a given
 * environment, so that the same code path serves the process (its real environment) and tests (a map).
 */
public final class PmmHaConfig {

  private PmmHaConfig() {}

  public static Config load(Map<String, String> env) {
    Map<String, String> vars = new HashMap<>();
    env.forEach((k, v) -> {
      if (k.matches("[A-Za-z_][A-Za-z0-9_]*")) {
        vars.put(k, v);
      }
    });
    ConfigFactory.invalidateCaches();
    // Environment variables sit below everything at the root, where ${?VAR} finds them.
    return ConfigFactory.defaultOverrides()
        .withFallback(ConfigFactory.defaultApplication())
        .withFallback(ConfigFactory.defaultReference())
        .withFallback(ConfigFactory.parseMap(vars, "environment"))
        .resolve(ConfigResolveOptions.defaults().setUseSystemEnvironment(false));
  }
}
