package redis

import (
	"crypto/tls"
	"net"
	"slices"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
)

// sentinelRefresh is how often the sentinel client re-reads the master's
// address besides following +switch-master events, so that one missed event
// does not pin it to a demoted master (rueidis recommends a few seconds).
const sentinelRefresh = 5 * time.Second

// clientOption maps a validated section to rueidis options.
//
// Client-side caching is off (no CLIENT TRACKING: the policies' keys change
// on every request), and so are rueidis's silent retries of read-only
// commands: a call fails fast and the policy decides.
func clientOption(cfg *config.Redis) rueidis.ClientOption {
	dialer := net.Dialer{Timeout: cfg.DialTimeout.Std()}
	opt := rueidis.ClientOption{
		InitAddress:      slices.Clone(cfg.Addresses),
		Username:         cfg.Username,
		Password:         cfg.AuthPassword(),
		ClientName:       "sluice",
		SelectDB:         cfg.Database,
		Dialer:           dialer,
		ConnWriteTimeout: cfg.WriteTimeout.Std(),
		BlockingPoolSize: cfg.PoolSize,
		DisableCache:     true,
		DisableRetry:     true,
	}
	if cfg.TLS {
		// ServerName is left empty: crypto/tls takes it from each address
		// dialled, which differs between cluster nodes.
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch cfg.Mode {
	case config.RedisCluster:
		opt.ShuffleInit = true
	case config.RedisSentinel:
		opt.ShuffleInit = true
		opt.Sentinel = rueidis.SentinelOption{
			MasterSet:               cfg.MasterName,
			Dialer:                  dialer,
			TLSConfig:               opt.TLSConfig,
			ClientName:              "sluice",
			TopologyRefreshInterval: sentinelRefresh,
		}
	default:
		// One server: no CLUSTER SLOTS probe at connect.
		opt.ForceSingleClient = true
	}
	return opt
}
