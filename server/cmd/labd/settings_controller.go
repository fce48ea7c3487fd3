package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// controllerSettings configure the reconciler and leader election.
var controllerSettings = []setting{
	{
		Flag: "controller", Env: "LAB_CONTROLLER", Default: "true",
		Usage: "run the lab controller (leader election decides which replica reconciles); false serves the API only",
		apply: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("must be true or false")
			}
			c.Controller = b
			return nil
		},
	},
	{
		Flag: "capacity-cpu", Env: "LAB_CAPACITY_CPU", Default: "",
		Usage: `CPU cores labs may reserve in total, like "8" or "7500m" ("" = the engine's: the Docker host's CPUs, the cluster's usable nodes' allocatable)`,
		apply: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			m, err := api.ParseCPU(v)
			if err != nil || m <= 0 {
				return fmt.Errorf("must be a positive CPU amount like 8 or 7500m")
			}
			c.CapacityCPU = m
			return nil
		},
	},
	{
		Flag: "capacity-memory", Env: "LAB_CAPACITY_MEMORY", Default: "",
		Usage: `memory labs may reserve in total, like "32Gi" ("" = the engine's: the Docker host's memory, the cluster's usable nodes' allocatable)`,
		apply: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			b, err := api.ParseMemory(v)
			if err != nil || b <= 0 {
				return fmt.Errorf("must be a positive amount like 32Gi")
			}
			c.CapacityMemory = b
			return nil
		},
	},
	{
		Flag: "workers", Env: "LAB_WORKERS", Default: "4",
		Usage: "labs reconciled concurrently",
		apply: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return fmt.Errorf("must be a number from 1 to 256")
			}
			c.Workers = n
			return nil
		},
	},
	durationSetting("provision-timeout", "LAB_PROVISION_TIMEOUT", "5m", "a lab still PROVISIONING after this FAILS", func(c *Config) *time.Duration { return &c.ProvisionTimeout }),
	durationSetting("stop-timeout", "LAB_STOP_TIMEOUT", "10s", "grace between SIGTERM and SIGKILL when a lab's container stops", func(c *Config) *time.Duration { return &c.StopTimeout }),
	durationSetting("probe-interval", "LAB_PROBE_INTERVAL", "10s", "how often a RUNNING lab's container is checked", func(c *Config) *time.Duration { return &c.ProbeInterval }),
	durationSetting("resync-period", "LAB_RESYNC_PERIOD", "5m", "how often the controller re-examines every lab", func(c *Config) *time.Duration { return &c.ResyncPeriod }),
	durationSetting("outbox-retention", "LAB_OUTBOX_RETENTION", "24h", "change events older than this, once every watcher has passed them, are deleted", func(c *Config) *time.Duration { return &c.OutboxRetention }),
	{
		Flag: "lock-name", Env: "LAB_LOCK_NAME", Default: "lab-instance-controller-leader",
		Usage: "leader election lock name (replicas with the same name and database elect one leader)",
		apply: func(c *Config, v string) error {
			if v == "" {
				return fmt.Errorf("must not be empty")
			}
			c.LockName = v
			return nil
		},
	},
	durationSetting("lease-duration", "LAB_LEASE_DURATION", "15s", "a silent leader loses leadership after this (its lock session's idle timeout)", func(c *Config) *time.Duration { return &c.LeaseDuration }),
	durationSetting("renew-deadline", "LAB_RENEW_DEADLINE", "10s", "a leader whose heartbeats fail this long stops leading", func(c *Config) *time.Duration { return &c.RenewDeadline }),
	durationSetting("retry-period", "LAB_RETRY_PERIOD", "2s", "leader heartbeat interval (standbys wait in PostgreSQL's lock queue instead of polling)", func(c *Config) *time.Duration { return &c.RetryPeriod }),
}

func durationSetting(flag, env, def, usage string, field func(*Config) *time.Duration) setting {
	return setting{
		Flag: flag, Env: env, Default: def, Usage: usage,
		apply: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("must be a positive duration like %s", def)
			}
			*field(c) = d
			return nil
		},
	}
}
