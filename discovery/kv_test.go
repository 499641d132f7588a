package discovery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/discovery/consultest"
)

const kvConfig = `consul: {address: "{consul}", dump_dir: "{dump}"}
upstreams:
  - name: test
    discovery: {type: consul_kv, key: upstreams/test}
  - name: same
    discovery: {type: consul_kv, key: upstreams/test}
`

func kvRig(t *testing.T, agent *consultest.Agent, dump string) *rig {
	return startRig(t, agent, parseConfig(t, agent.Addr(), stringsReplace(kvConfig, "{dump}", dump)))
}

func TestKVPutDeleteDownWeightFollow(t *testing.T) {
	agent := consultest.Start(t)
	r := kvRig(t, agent, t.TempDir())
	r.put("upstreams/test/10.0.0.1:8080", "")
	r.waitRotation("test", "10.0.0.1:8080*1")
	r.put("upstreams/test/[fd00::2]:8080", `{"weight":"5","max_fails":2,"fail_timeout":10,"down":0,"backup":0}`)
	r.put("upstreams/test/backend-3.internal:80", `{"weight":2}`)
	r.waitRotation("test", "10.0.0.1:8080*1 [fd00::2]:8080*5 backend-3.internal:80*2")
	r.waitRotation("same", "10.0.0.1:8080*1 [fd00::2]:8080*5 backend-3.internal:80*2") // one shared watch

	// Health and in-flight of a target that stays survive an update.
	kept := r.groups["test"].Snapshot().Targets()[0]
	kept.Begin()
	defer kept.Cancel()

	r.put("upstreams/test/[fd00::2]:8080", `{"weight":5,"down":1}`)
	r.waitRotation("test", "10.0.0.1:8080*1 backend-3.internal:80*2")
	r.put("upstreams/test/backend-3.internal:80", `{"weight":9}`)
	r.waitRotation("test", "10.0.0.1:8080*1 backend-3.internal:80*9")
	r.del("upstreams/test/backend-3.internal:80")
	r.waitRotation("test", "10.0.0.1:8080*1")
	for _, tg := range r.groups["test"].Snapshot().Targets() {
		if tg.Addr == kept.Addr && (tg != kept || tg.InFlight() != 1) {
			t.Fatalf("target %s was replaced or lost its in-flight count", kept.Addr)
		}
	}

	// A bad value skips that key (logged, counted); the others stay.
	r.put("upstreams/test/10.0.0.4:8080", `{"weight":"heavy"}`)
	r.put("upstreams/test/10.0.0.5:8080", `{"weight":3}`)
	r.waitRotation("test", "10.0.0.1:8080*1 10.0.0.5:8080*3")
	s := r.source("consul_kv:upstreams/test")
	if s.BadValues != 1 || s.BadValuesTotal != 1 || len(s.Skipped) != 1 || s.State != discovery.StateOK {
		t.Fatalf("status %+v", s)
	}
	if len(s.Upstreams) != 2 || len(r.m.Status().Sources) != 1 {
		t.Fatalf("want one watch shared by two upstreams: %+v", r.m.Status().Sources)
	}
	// Down targets are kept in the status, out of rotation.
	var sawDown bool
	for _, tg := range s.Targets {
		sawDown = sawDown || (tg.Addr == "[fd00::2]:8080" && tg.Down)
	}
	if !sawDown {
		t.Fatalf("status targets %+v lack the down one", s.Targets)
	}
}

func TestKVBackupUsedOnlyWithoutPrimary(t *testing.T) {
	agent := consultest.Start(t)
	r := kvRig(t, agent, t.TempDir())
	r.put("upstreams/test/10.0.0.1:80", `{"weight":1}`)
	r.put("upstreams/test/10.0.0.9:80", `{"backup":1}`)
	r.waitRotation("test", "10.0.0.1:80*1")
	r.put("upstreams/test/10.0.0.1:80", `{"down":1}`)
	r.waitRotation("test", "10.0.0.9:80*1")
	r.put("upstreams/test/10.0.0.1:80", `{"down":0}`)
	r.waitRotation("test", "10.0.0.1:80*1")
}

func TestKVEmptyAnswerRefusedUnlessAllowEmpty(t *testing.T) {
	agent := consultest.Start(t)
	cfg := parseConfig(t, agent.Addr(), `consul: {address: "{consul}"}
upstreams:
  - name: keep
    discovery: {type: consul_kv, key: upstreams/x}
  - name: empty
    discovery: {type: consul_kv, key: upstreams/x, allow_empty: true}
`)
	r := startRig(t, agent, cfg)
	refused := func() uint64 {
		for _, u := range r.m.Status().Upstreams {
			if u.Name == "keep" {
				return u.RefusedEmpty
			}
		}
		return 0
	}
	r.put("upstreams/x/10.0.0.1:80", "")
	r.waitRotation("keep", "10.0.0.1:80*1")
	r.waitRotation("empty", "10.0.0.1:80*1")
	before := refused() // the empty prefix at start counts too
	r.del("upstreams/x/10.0.0.1:80")
	r.waitRotation("empty", "")
	r.stayRotation("keep", "10.0.0.1:80*1", 200*time.Millisecond)
	if n := refused() - before; n != 1 {
		t.Fatalf("keep: %d more refused empty answers, want 1", n)
	}
}

func TestConsulKilledKeepsLastKnownGoodAndRecovers(t *testing.T) {
	agent := consultest.Start(t)
	r := kvRig(t, agent, t.TempDir())
	r.put("upstreams/test/10.0.0.1:80", "")
	r.put("upstreams/test/10.0.0.2:80", "")
	r.waitRotation("test", "10.0.0.1:80*1 10.0.0.2:80*1")

	agent.Kill()
	waitFor(t, 5*time.Second, func() (bool, string) {
		s := r.source("consul_kv:upstreams/test")
		return s.State == discovery.StateFailing && s.StalenessSeconds > 0, "source state " + s.State
	})
	r.stayRotation("test", "10.0.0.1:80*1 10.0.0.2:80*1", 500*time.Millisecond)
	s := r.source("consul_kv:upstreams/test")
	if s.LastError == "" || s.ConsecutiveFailures == 0 || s.LastSuccess.IsZero() {
		t.Fatalf("status while Consul is down: %+v", s)
	}
	// Backing off: a few queries in 500ms, not a spin.
	before := s.Requests
	time.Sleep(time.Second)
	if n := r.source("consul_kv:upstreams/test").Requests - before; n > 6 {
		t.Fatalf("%d queries in 1s while Consul is down; want backoff", n)
	}

	// A -dev agent comes back empty: that empty answer must not empty the
	// upstream; new keys are followed again.
	agent.Restart()
	waitFor(t, 10*time.Second, func() (bool, string) {
		s := r.source("consul_kv:upstreams/test")
		return s.State == discovery.StateOK, "source state " + s.State
	})
	r.stayRotation("test", "10.0.0.1:80*1 10.0.0.2:80*1", 200*time.Millisecond)
	r.put("upstreams/test/10.0.0.3:80", "")
	r.waitRotation("test", "10.0.0.3:80*1")
}

func TestStartWithConsulDownServesTheDump(t *testing.T) {
	agent := consultest.Start(t)
	dump := t.TempDir()
	r := kvRig(t, agent, dump)
	r.put("upstreams/test/10.0.0.1:80", `{"weight":4}`)
	r.put("upstreams/test/10.0.0.2:80", `{"backup":1}`)
	r.waitRotation("test", "10.0.0.1:80*4")
	// The rotation above holds from the first key's answer on: wait for the
	// answer with both, the one the dump must keep.
	waitFor(t, 5*time.Second, func() (bool, string) {
		return len(r.source("consul_kv:upstreams/test").Targets) == 2, "the backup not seen yet"
	})
	// An answer with nothing usable does not overwrite the dump.
	r.put("upstreams/test/10.0.0.2:80", `{"backup":1,"down":1}`)
	r.put("upstreams/test/10.0.0.1:80", `{"weight":4,"down":1}`)
	waitFor(t, 5*time.Second, func() (bool, string) {
		s := r.source("consul_kv:upstreams/test")
		return len(s.Targets) == 2 && s.Targets[0].Down && s.Targets[1].Down, "source not updated"
	})
	r.stayRotation("test", "10.0.0.1:80*4", 100*time.Millisecond)
	r.m.Close()
	agent.Kill()

	cfg := parseConfig(t, agent.Addr(), stringsReplace(kvConfig, "{dump}", dump))
	r2 := startRig(t, agent, cfg)
	r2.waitRotation("test", "10.0.0.1:80*4")
	s := r2.source("consul_kv:upstreams/test")
	if s.State != discovery.StateDump || !s.FromDump || len(s.Targets) != 2 {
		t.Fatalf("status %+v", s)
	}
	// The prepared config (what the compiler builds groups from) has them,
	// the backup with its flag.
	if p := r2.m.Prepare(cfg); len(p.Upstreams[0].Targets) != 2 || p.Upstreams[0].Targets[0].Weight != 4 ||
		!p.Upstreams[0].Targets[1].Backup || len(cfg.Upstreams[0].Targets) != 0 {
		t.Fatalf("prepared %+v, original %+v", p.Upstreams[0].Targets, cfg.Upstreams[0].Targets)
	}

	// required: the dump is not enough.
	req := parseConfig(t, agent.Addr(), stringsReplace(`consul: {address: "{consul}", dump_dir: "{dump}", start_timeout: 300ms}
upstreams:
  - name: test
    discovery: {type: consul_kv, key: upstreams/test, required: true}
`, "{dump}", dump))
	m := discovery.New(discovery.Options{Logf: t.Logf})
	defer m.Close()
	if err := m.Configure(req); !errors.Is(err, discovery.ErrRequired) {
		t.Fatalf("Configure = %v, want ErrRequired", err)
	} else {
		t.Logf("required source, Consul down: %v", err)
	}

	// Consul back: the dump gives way to its answer.
	agent.Restart()
	r2.put("upstreams/test/10.0.0.7:80", "")
	r2.waitRotation("test", "10.0.0.7:80*1")
	if s := r2.source("consul_kv:upstreams/test"); s.FromDump || s.State != discovery.StateOK {
		t.Fatalf("status %+v", s)
	}
}

// Deleting the key with the highest index: the list's index must not send
// the watch into a loop, and the next change must still be seen.
func TestKVDeleteHighestKeyNoBusyLoopNoMissedChange(t *testing.T) {
	agent := consultest.Start(t)
	r := kvRig(t, agent, t.TempDir())
	r.put("upstreams/test/10.0.0.1:80", "")
	r.put("upstreams/test/10.0.0.2:80", "")
	r.waitRotation("test", "10.0.0.1:80*1 10.0.0.2:80*1")
	r.del("upstreams/test/10.0.0.2:80")
	r.waitRotation("test", "10.0.0.1:80*1")
	before := r.source("consul_kv:upstreams/test").Requests
	time.Sleep(2 * time.Second)
	if n := r.source("consul_kv:upstreams/test").Requests - before; n > 2 {
		t.Fatalf("%d queries in 2s with nothing changing: the watch spins", n)
	}
	r.put("upstreams/test/10.0.0.3:80", "")
	r.waitRotation("test", "10.0.0.1:80*1 10.0.0.3:80*1")
}
