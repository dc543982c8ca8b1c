package dev.pmmha.runtime.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValue;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.runtime.jobs.spi.JobAction;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;

/** {@code pmm-ha.jobs}: sharded jobs (README, "Jobs"). Validated at start; errors name the key and the value. */
public record JobSettings(
    boolean enabled,
    int shards,
    int storeConnections,
    int maxConcurrentCommands,
    Duration writeTimeout,
    Duration wakeInterval,
    int keepRuns,
    Map<String, JobAction> actions) {

  public static JobSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.jobs");
    boolean enabled = bool(c.getString("enable"), "PMM_HA_JOBS_ENABLE");
    int shards = c.getInt("shards");
    if (shards < 1 || shards > 10_000) {
      throw new SettingsException("pmm-ha.jobs.shards", String.valueOf(shards), "a number of shards from 1 to 10000");
    }
    int conns = c.getInt("store-connections");
    if (conns < 1 || conns > 20) {
      throw new SettingsException("PMM_HA_JOBS_STORE_CONNECTIONS", String.valueOf(conns), "from 1 to 20");
    }
    int commands = c.getInt("max-concurrent-commands");
    if (commands < 1 || commands > 1000) {
      throw new SettingsException("PMM_HA_JOBS_MAX_CONCURRENT_COMMANDS", String.valueOf(commands), "from 1 to 1000");
    }
    int keep = c.getInt("keep-runs");
    if (keep < 1 || keep > 100_000) {
      throw new SettingsException("pmm-ha.jobs.keep-runs", String.valueOf(keep), "from 1 to 100000");
    }
    Map<String, JobAction> actions = new TreeMap<>();
    for (Map.Entry<String, ConfigValue> e : c.getConfig("actions").root().entrySet()) {
      String name = e.getKey();
      String cls = String.valueOf(e.getValue().unwrapped());
      try {
        Class<?> k = Class.forName(cls);
        JobAction a;
        try {
          a = (JobAction) k.getConstructor(Config.class).newInstance(root);
        } catch (NoSuchMethodException ex) {
          a = (JobAction) k.getConstructor().newInstance();
        }
        actions.put(name, a);
      } catch (ReflectiveOperationException | ClassCastException ex) {
        Throwable cause = ex instanceof java.lang.reflect.InvocationTargetException ite ? ite.getCause() : ex;
        throw new SettingsException("pmm-ha.jobs.actions." + name + ": cannot create " + cls
            + " (it must implement dev.pmmha.runtime.jobs.spi.JobAction): " + cause);
      }
    }
    return new JobSettings(enabled, shards, conns, commands, c.getDuration("write-timeout"),
        c.getDuration("wake-interval"), keep, Map.copyOf(actions));
  }

  private static boolean bool(String v, String var) {
    return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "1", "true", "on", "yes" -> true;
      case "0", "false", "off", "no", "" -> false;
      default -> throw new SettingsException(var, v, "1 or 0 (true or false)");
    };
  }
}
