package discovery

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-gw/sluice/atomicfile"
)

// dumpFile is what a dump holds: one source's last known good targets.
type dumpFile struct {
	Source  string    `json:"source"`
	Index   uint64    `json:"index"`
	Written time.Time `json:"written"`
	Targets []Target  `json:"targets"`
}

// dumpPath names a source's dump in dir: the source's name, escaped into
// one file name ("consul_kv%3Aupstreams%2Ftest.json").
func dumpPath(dir string, k sourceKey) string {
	return filepath.Join(dir, url.QueryEscape(k.String())+".json")
}

// dump writes a source's targets atomically (a temporary file, fsync,
// rename), so a crash leaves the old dump or the new one, never a part.
func (w *watch) writeDump(targets []Target, index uint64) {
	if w.dumpDir == "" {
		return
	}
	if err := writeDump(w.dumpDir, w.key, targets, index); err != nil {
		w.m.dumpFailed(fmt.Errorf("discovery: %s: dump: %w", w.key, err))
	}
}

func writeDump(dir string, k sourceKey, targets []Target, index uint64) error {
	if targets == nil {
		targets = []Target{}
	}
	data, err := json.MarshalIndent(dumpFile{Source: k.String(), Index: index, Written: time.Now().UTC(), Targets: targets}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(dumpPath(dir, k), 0o600, data, []byte("\n"))
}

// readDump reads a source's dump; it fails when there is none or it does
// not parse.
func readDump(dir string, k sourceKey) (dumpFile, error) {
	var df dumpFile
	data, err := os.ReadFile(dumpPath(dir, k))
	if err != nil {
		return df, err
	}
	if err := json.Unmarshal(data, &df); err != nil {
		return df, fmt.Errorf("%s: %w", dumpPath(dir, k), err)
	}
	if df.Source != k.String() {
		return df, fmt.Errorf("%s: holds source %q, not %q", dumpPath(dir, k), df.Source, k)
	}
	for _, t := range df.Targets {
		if err := checkAddr(t.Addr); err != nil || t.Weight < 1 || t.Weight > maxWeight {
			return df, fmt.Errorf("%s: bad target %q", dumpPath(dir, k), t.Addr)
		}
	}
	return df, nil
}

// loadDump gives a watch that Consul did not answer its dump, if any.
func (m *Manager) loadDump(w *watch) {
	if w.dumpDir == "" {
		m.logf("discovery: %s: Consul did not answer (%s) and there is no dump_dir; the static targets serve until it does", w.key, w.lastError())
		return
	}
	df, err := readDump(w.dumpDir, w.key)
	if err != nil {
		m.logf("discovery: %s: Consul did not answer (%s) and no dump could be read (%v); the static targets serve until it does", w.key, w.lastError(), err)
		return
	}
	if w.useDump(df.Targets, df.Index) {
		m.logf("discovery: %s: Consul did not answer (%s); serving the dump of %s (%d targets) until it does", w.key, w.lastError(), df.Written.Format(time.RFC3339), len(df.Targets))
	}
}

func (m *Manager) dumpFailed(err error) {
	m.mu.Lock()
	m.dumpFails++
	m.mu.Unlock()
	m.logf("%v", err)
}
