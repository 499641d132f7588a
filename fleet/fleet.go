// Package fleet keeps many gateways on one configuration stored in Consul
// KV (config_source: consul). Each node loads the keys under the prefix at
// start (config.AssembleFleet: its own file gives what is the node's), then
// watches the prefix with blocking queries and applies every change through
// package live: a changed route or upstream is an edit of that resource
// (compiled alone), anything else a whole new configuration. A
// configuration that does not validate or compile is refused by every node,
// which keep serving the old one and report the error (/status).
//
// Writes go the other way too: an Admin API change made on any node is
// compiled there, then written to Consul in a transaction whose every key
// is checked-and-set against the index this node last saw (a conflicting
// write by another node refuses it, 409), and only then put in force; the
// other nodes see it through their watch.
//
// The last configuration a node ran is dumped (consul.dump_dir/fleet.json)
// after every change, so a node started while Consul is down serves it
// (unless config_source.required).
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/atomicfile"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
)

// maxIncremental is how many changed routes and upstreams a watch applies
// as edits; more are applied as a whole new configuration.
const maxIncremental = 64

// maxTxnOps is Consul's limit of operations in one transaction.
const maxTxnOps = 64

// ErrUnreachable: the start could not read the fleet's configuration from
// Consul, and there is no dump to start from (or the source is required).
var ErrUnreachable = errors.New("fleet: Consul cannot be reached")

// States of Status.State.
const (
	StateOK      = "ok"      // the running configuration is Consul's latest
	StateDump    = "dump"    // started from the dump; Consul has not answered yet
	StateFailing = "failing" // the last query failed; the running configuration stays
	StateRefused = "refused" // Consul holds a configuration this node refused; the running one stays
)

// part is one key as this node knows it.
type part struct {
	index uint64 // its ModifyIndex
	value []byte
}

// Source is one node's link to the fleet's configuration. Safe for
// concurrent use.
type Source struct {
	local    *config.Config
	prefix   string
	client   *api.Client
	logf     func(string, ...any)
	dumpFile string

	mu      sync.Mutex
	known   map[string]part // the keys the running configuration was built from
	listIdx uint64          // the index of the listing known came from
	status  Status

	cancel context.CancelFunc
	done   chan struct{}
}

// Status is what /status shows of the fleet source.
type Status struct {
	Prefix    string    `json:"prefix"`
	State     string    `json:"state"`
	Index     uint64    `json:"index"`
	Keys      int       `json:"keys"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Applied   uint64    `json:"changes_applied"`
	Refused   uint64    `json:"changes_refused"`
	Written   uint64    `json:"writes"`
	Conflicts uint64    `json:"write_conflicts"`
}

// New returns the source of the node whose validated file is local
// (local.Fleet() must be true).
func New(local *config.Config, logf func(string, ...any)) (*Source, error) {
	if !local.Fleet() || local.Consul == nil {
		return nil, errors.New("fleet: the config has no consul config_source")
	}
	client, err := discovery.NewClient(local.Consul)
	if err != nil {
		return nil, fmt.Errorf("fleet: consul: %w", err)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Source{local: local, prefix: local.ConfigSource.Prefix, client: client, logf: logf, known: map[string]part{}}
	if d := local.Consul.DumpDir; d != "" {
		s.dumpFile = filepath.Join(d, "fleet.json")
	}
	s.status.Prefix = s.prefix
	return s, nil
}

// list reads every key under the prefix; index is a blocking query's
// (0: answer at once).
func (s *Source) list(ctx context.Context, index uint64, wait time.Duration) (map[string]part, uint64, error) {
	q := (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx)
	pairs, meta, err := s.client.KV().List(s.prefix+"/", q)
	if err != nil {
		return nil, 0, err
	}
	out := make(map[string]part, len(pairs))
	for _, p := range pairs {
		if strings.HasSuffix(p.Key, "/") {
			continue // a "folder" key made by the UI
		}
		out[p.Key] = part{index: p.ModifyIndex, value: p.Value}
	}
	return out, meta.LastIndex, nil
}

// Load returns the configuration this node starts with: Consul's, or,
// when Consul does not answer within consul.start_timeout and the source is
// not required, the dump of the last one it ran.
func (s *Source) Load() (*config.Config, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.local.Consul.StartTimeout.Std())
	defer cancel()
	parts, idx, err := s.list(ctx, 0, 0)
	if err == nil {
		cfg, aerr := config.AssembleFleet(s.local, partsOf(parts))
		if aerr == nil {
			s.mu.Lock()
			s.known, s.listIdx = parts, idx
			s.status.State, s.status.Index, s.status.Keys, s.status.LastOK = StateOK, idx, len(parts), time.Now()
			s.mu.Unlock()
			s.writeDump()
			return cfg, nil
		}
		if s.dumpFile == "" {
			return nil, fmt.Errorf("fleet: the configuration under %s/ is refused:\n%w", s.prefix, aerr)
		}
		s.logf("fleet: the configuration under %s/ is refused; starting from the dump:\n%v", s.prefix, aerr)
		s.status.LastError = aerr.Error()
	} else if s.local.ConfigSource.Required {
		return nil, fmt.Errorf("%w (config_source.required): %v", ErrUnreachable, err)
	} else {
		s.status.LastError = err.Error()
	}
	parts, idx, derr := s.readDump()
	if derr != nil {
		if err == nil {
			err = errors.New(s.status.LastError)
		}
		return nil, fmt.Errorf("%w and no dump to start from (%v): %v", ErrUnreachable, derr, err)
	}
	cfg, aerr := config.AssembleFleet(s.local, partsOf(parts))
	if aerr != nil {
		return nil, fmt.Errorf("fleet: the dump %s is refused:\n%w", s.dumpFile, aerr)
	}
	s.mu.Lock()
	// The dump's indexes stand for what the node runs; the watch's first
	// listing brings whatever changed since.
	s.known, s.listIdx = parts, idx
	s.status.State, s.status.Index, s.status.Keys = StateDump, idx, len(parts)
	s.mu.Unlock()
	s.logf("fleet: Consul did not answer (%v); serving the last configuration this node ran (%s, index %d)", err, s.dumpFile, idx)
	return cfg, nil
}

func partsOf(m map[string]part) []config.FleetPart {
	out := make([]config.FleetPart, 0, len(m))
	for k, p := range m {
		out = append(out, config.FleetPart{Key: k, Value: p.value})
	}
	return out
}

// Status returns the source's state.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Close stops the watch.
func (s *Source) Close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// dumpDoc is the dump file: the keys the running configuration came from.
type dumpDoc struct {
	Prefix string     `json:"prefix"`
	Index  uint64     `json:"index"`
	Keys   []dumpPart `json:"keys"`
}

type dumpPart struct {
	Key         string `json:"key"`
	ModifyIndex uint64 `json:"modify_index"`
	Value       string `json:"value"`
}

// writeDump writes what the node runs, atomically; failures are logged.
func (s *Source) writeDump() {
	if s.dumpFile == "" {
		return
	}
	s.mu.Lock()
	doc := dumpDoc{Prefix: s.prefix, Index: s.listIdx}
	for k, p := range s.known {
		doc.Keys = append(doc.Keys, dumpPart{Key: k, ModifyIndex: p.index, Value: string(p.value)})
	}
	s.mu.Unlock()
	sort.Slice(doc.Keys, func(i, j int) bool { return doc.Keys[i].Key < doc.Keys[j].Key })
	data, _ := json.MarshalIndent(doc, "", " ")
	err := os.MkdirAll(filepath.Dir(s.dumpFile), 0o700)
	if err == nil {
		err = atomicfile.Write(s.dumpFile, 0o600, data) // consumers' secrets may be in it
	}
	if err != nil {
		s.logf("fleet: dump %s: %v", s.dumpFile, err)
	}
}

func (s *Source) readDump() (map[string]part, uint64, error) {
	if s.dumpFile == "" {
		return nil, 0, errors.New("no consul.dump_dir")
	}
	data, err := os.ReadFile(s.dumpFile)
	if err != nil {
		return nil, 0, err
	}
	var doc dumpDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", s.dumpFile, err)
	}
	if doc.Prefix != s.prefix {
		return nil, 0, fmt.Errorf("%s holds prefix %q, not %q", s.dumpFile, doc.Prefix, s.prefix)
	}
	out := make(map[string]part, len(doc.Keys))
	for _, k := range doc.Keys {
		out[k.Key] = part{index: k.ModifyIndex, value: []byte(k.Value)}
	}
	return out, doc.Index, nil
}

// sameValue reports whether a key holds value already.
func sameValue(p part, ok bool, value []byte) bool { return ok && bytes.Equal(p.value, value) }
