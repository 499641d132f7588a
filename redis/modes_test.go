package redis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/redis/redistest"
)

// TestSentinelMode: the client asks a real sentinel for the master and
// writes there.
func TestSentinelMode(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "gwmaster", master)
	c := connectedClient(t, section(t, sentinel.Addr(), func(r *config.Redis) {
		r.Mode, r.MasterName = config.RedisSentinel, "gwmaster"
	}))
	ctx := context.Background()
	if n, err := c.IncrExpire(ctx, "s", 2, time.Minute); err != nil || n != 2 {
		t.Fatalf("IncrExpire via sentinel = %d, %v", n, err)
	}
	if got, _ := master.Do("GET", "s"); got != "2" {
		t.Errorf("the master holds %q, want 2", got)
	}
}

// TestClusterMode: a client in cluster mode against a one-node cluster
// routes keys of every slot and runs the script.
func TestClusterMode(t *testing.T) {
	node := redistest.StartCluster(t)
	c := connectedClient(t, section(t, node.Addr(), func(r *config.Redis) { r.Mode = config.RedisCluster }))
	ctx := context.Background()
	for i := range 20 {
		key := "k" + strconv.Itoa(i)
		if err := c.SetPX(ctx, key, []byte(key), time.Minute); err != nil {
			t.Fatalf("SetPX(%s): %v", key, err)
		}
		if n, err := c.IncrExpire(ctx, "{c}"+key, 1, time.Minute); err != nil || n != 1 {
			t.Fatalf("IncrExpire(%s) = %d, %v", key, n, err)
		}
	}
	if got, _ := node.Do("DBSIZE"); got != "40" {
		t.Errorf("DBSIZE = %s, want 40", got)
	}
}
