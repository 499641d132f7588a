package redis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// BenchmarkIncrExpire measures the distributed rate-limit counter against
// a local redis-server, through Client and, as the baseline, the same
// script run on the bare rueidis client (what Client adds: the read-timeout
// context, error mapping, counters). "parallel" runs GOMAXPROCS goroutines
// (use -cpu), where auto-pipelining batches the round trips.
func BenchmarkIncrExpire(b *testing.B) {
	srv := redistest.Start(b)
	c := connectedClient(b, section(b, srv.Addr(), nil))
	rc := c.rc.Load().Client
	ctx := context.Background()
	ops := []struct {
		name string
		op   func(key string) error
	}{
		{"client", func(key string) error {
			_, err := c.IncrExpire(ctx, key, 1, time.Minute)
			return err
		}},
		{"rueidis-direct", func(key string) error {
			return incrExpireScript.Exec(ctx, rc, []string{key},
				[]string{strconv.FormatInt(1, 10), strconv.FormatInt(time.Minute.Milliseconds(), 10)}).Error()
		}},
	}
	for _, o := range ops {
		b.Run(o.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := o.op("bench:serial"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(o.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := o.op("bench:parallel"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("down/fail-fast", func(b *testing.B) {
		down := redistest.Start(b)
		down.Stop()
		dc, _ := newClient(b, section(b, down.Addr(), nil))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dc.IncrExpire(ctx, "k", 1, time.Minute); err == nil {
				b.Fatal("no error while down")
			}
		}
	})
}
