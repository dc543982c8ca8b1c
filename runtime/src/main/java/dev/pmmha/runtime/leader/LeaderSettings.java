package dev.pmmha.runtime.leader;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.runtime.config.NodeSettings;
import dev.pmmha.runtime.leader.spi.LeaderService;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code pmm-ha.leader}: the fence lease, the leader services and the role-change hook. Validated at start; the
 * lease rule is {@code renew-interval < lease-ttl - safety-margin}, so that a healthy leader renews well before
 * it would have to stop acting.
 */
public record LeaderSettings(
    Duration announceInterval,
    Duration leaseTtl,
    Duration renewInterval,
    Duration safetyMargin,
    Path onRoleChange,
    Duration onRoleChangeTimeout,
    Duration writeTimeout,
    Duration serviceMinBackoff,
    Duration serviceMaxBackoff,
    Duration handOverHoldTail,
    Duration handOverHoldMax,
    List<Config> services) {

  /**
   * How long after it offered the fence to the next node ({@link Successor#offered}) a leader handing over may still
   * give it straight to that node: the node counts the lease from the offer, and a later hand-over would leave it
   * less than one renewal interval before it must stop acting. Positive: the lease rule above.
   */
  public Duration handOverOfferLife() {
    return leaseTtl.minus(safetyMargin).minus(renewInterval);
  }

  public static LeaderSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.leader");
    Duration ttl = NodeSettings.duration(c, "lease-ttl", "PMM_HA_LEASE_TTL");
    Duration renew = NodeSettings.duration(c, "lease-renew-interval", "PMM_HA_LEASE_RENEW_INTERVAL");
    Duration margin = NodeSettings.duration(c, "lease-safety-margin", "PMM_HA_LEASE_SAFETY_MARGIN");
    if (ttl.toMillis() < 100) {
      throw new SettingsException("PMM_HA_LEASE_TTL", raw(c, "lease-ttl"), "at least 100ms");
    }
    if (margin.isNegative() || margin.compareTo(ttl) >= 0) {
      throw new SettingsException("PMM_HA_LEASE_SAFETY_MARGIN", raw(c, "lease-safety-margin"),
          "a duration from 0 to less than PMM_HA_LEASE_TTL (" + ttl.toMillis() + "ms)");
    }
    if (renew.toMillis() <= 0 || renew.compareTo(ttl.minus(margin)) >= 0) {
      throw new SettingsException("PMM_HA_LEASE_RENEW_INTERVAL", raw(c, "lease-renew-interval"),
          "a positive duration below PMM_HA_LEASE_TTL - PMM_HA_LEASE_SAFETY_MARGIN (" + ttl.minus(margin).toMillis() + "ms)");
    }
    String hook = c.getString("on-role-change").trim();
    List<Config> services = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (Config s : c.getConfigList("services")) {
      if (!s.hasPath("name") || !s.hasPath("class")) {
        throw new SettingsException("pmm-ha.leader.services entries need a name and a class: " + s.root().render());
      }
      if (!names.add(s.getString("name"))) {
        throw new SettingsException("pmm-ha.leader.services: the name " + s.getString("name") + " is used twice");
      }
      services.add(s);
    }
    String command = c.getString("command").trim();
    if (!command.isEmpty()) {
      Map<String, Object> m = new java.util.HashMap<>();
      m.put("name", "leader-command");
      m.put("class", "dev.pmmha.runtime.leader.services.CommandLeaderService");
      m.put("command", List.of("/bin/sh", "-c", command));
      String stop = c.getString("stop-command").trim();
      if (!stop.isEmpty()) {
        m.put("stop-command", List.of("/bin/sh", "-c", stop));
      }
      services.add(ConfigFactory.parseMap(m).withFallback(c.getConfig("service-defaults")));
    }
    String roleFile = c.getString("role-file").trim();
    if (!roleFile.isEmpty()) {
      // last: started after the other services, stopped before them (the external consumer demotes first)
      Duration guard = NodeSettings.duration(c, "role-file-guard", "pmm-ha.leader.role-file-guard");
      Map<String, Object> m = new java.util.HashMap<>();
      m.put("name", "role-file");
      m.put("class", "dev.pmmha.runtime.leader.services.RoleFileLeaderService");
      m.put("path", roleFile);
      m.put("lease", margin.minus(guard).toMillis() + "ms");
      m.put("refresh", NodeSettings.duration(c, "role-file-refresh", "pmm-ha.leader.role-file-refresh").toMillis() + "ms");
      services.add(ConfigFactory.parseMap(m).withFallback(c.getConfig("service-defaults")));
    }
    return new LeaderSettings(
        NodeSettings.duration(c, "announce-interval", "pmm-ha.leader.announce-interval"),
        ttl, renew, margin,
        hook.isEmpty() ? null : Path.of(hook),
        NodeSettings.duration(c, "on-role-change-timeout", "pmm-ha.leader.on-role-change-timeout"),
        NodeSettings.duration(c, "write-timeout", "PMM_HA_WRITE_TIMEOUT"),
        NodeSettings.duration(c, "service-min-backoff", "pmm-ha.leader.service-min-backoff"),
        NodeSettings.duration(c, "service-max-backoff", "pmm-ha.leader.service-max-backoff"),
        NodeSettings.duration(c, "hand-over-hold.after-next-leader", "pmm-ha.leader.hand-over-hold.after-next-leader"),
        NodeSettings.duration(c, "hand-over-hold.max", "pmm-ha.leader.hand-over-hold.max"),
        List.copyOf(services));
  }

  private static String raw(Config c, String key) {
    return String.valueOf(c.getValue(key).unwrapped());
  }

  /** Instantiates the configured services, in order; a class that cannot be loaded is a configuration error. */
  public List<LeaderServices.Entry> instantiateServices(Config defaults) {
    List<LeaderServices.Entry> out = new ArrayList<>();
    for (Config raw : services) {
      Config s = raw.withFallback(defaults);
      String name = s.getString("name");
      String cls = s.getString("class");
      LeaderService service;
      try {
        Class<?> k = Class.forName(cls);
        try {
          service = (LeaderService) k.getConstructor(Config.class).newInstance(s);
        } catch (NoSuchMethodException e) {
          service = (LeaderService) k.getConstructor().newInstance();
        }
      } catch (ReflectiveOperationException | ClassCastException e) {
        Throwable cause = e instanceof java.lang.reflect.InvocationTargetException ite ? ite.getCause() : e;
        throw new SettingsException("pmm-ha.leader.services: cannot create " + name + " (" + cls + "): " + cause);
      }
      out.add(new LeaderServices.Entry(name, service,
          s.getDuration("start-timeout"), s.getDuration("stop-timeout")));
    }
    return out;
  }

  static Config withService(Config root, Map<String, Object> service) {
    List<Object> list = new ArrayList<>(root.getList("pmm-ha.leader.services").unwrapped());
    list.add(service);
    return root.withValue("pmm-ha.leader.services", ConfigValueFactory.fromIterable(list));
  }
}
