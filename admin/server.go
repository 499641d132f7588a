package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/lowprio"
)

// LogStats is what the access log tells /metrics and /status.
type LogStats interface {
	// Lines is the number of lines written.
	Lines() uint64
	// Dropped is the number of lines dropped because the writer fell
	// behind.
	Dropped() uint64
}

// Options configure a Server. Engine is required.
type Options struct {
	// Engine is the gateway whose metrics and status are served.
	Engine *engine.Server
	// AccessLog, if not nil, reports the access log's counters.
	AccessLog LogStats
	// Version is the gateway's version for sluice_build_info. Default
	// "devel".
	Version string
	// AllowRemote lets Listen take an address other hosts can reach and
	// answer them (config admin.allow_remote). Default false: loopback
	// only.
	AllowRemote bool
	// NoRuntimeMetrics leaves out the go_* and process_* collectors.
	NoRuntimeMetrics bool
	// Persisted, when set, reports the last config version written back
	// to the file and the last write's error (package live), for /status.
	Persisted func() (uint64, error)
	// StatusExtra, when set, adds sections to /status (the Consul
	// sources: discovery, fleet).
	StatusExtra func() map[string]any
	// Wrap, when set, wraps the whole handler (the Admin API's bearer
	// token check, adminapi.RequireToken), /metrics and /status included.
	Wrap func(http.Handler) http.Handler
}

// Server is the admin listener. Its methods are safe for concurrent use.
type Server struct {
	opts      Options
	mux       *http.ServeMux
	registry  *prometheus.Registry
	collector *Collector

	scrapeMu sync.Mutex // one scrape at a time: a storm must not pile up sums
	// loopMu guards the scrape thread's channel and serving; it is held
	// only briefly, alone or under scrapeMu, never while a render runs.
	loopMu   sync.Mutex
	scrapes  chan *scrape    // to the scrape thread (scrapeLoop); nil when none runs
	thread   *lowprio.Thread // the scrape thread, for the scrapes' jobs (metrics)
	loopDone chan struct{}   // closed when the last scrape thread started ends
	serving  bool            // between Listen or Serve and Close or Shutdown: warm-ups wanted
	warmups  atomic.Uint64   // warm-up renders done (tests read it)
	// lastReloadWarm is when ReloadDone last asked for a warm-up (unix ns);
	// reloadWarmEvery is the least time between two (tests shorten it).
	lastReloadWarm  atomic.Int64
	reloadWarmEvery time.Duration
	text            appendWriter  // the last scrape's exposition, reused
	marks           []textMark    // where text can be cut, for gz
	gz              segmentedGzip // gzips text, reusing what did not change

	mu       sync.Mutex
	hs       *http.Server
	listener net.Listener
}

// New builds the admin server's handlers; Listen serves them.
func New(opts Options) *Server {
	if opts.Version == "" {
		opts.Version = "devel"
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), registry: prometheus.NewRegistry(), reloadWarmEvery: reloadWarmEvery}
	s.collector = NewCollector(opts.Engine, opts.AccessLog, opts.Version)
	if !opts.NoRuntimeMetrics {
		s.registry.MustRegister(collectors.NewGoCollector(), newProcessCollector())
	}

	s.mux.HandleFunc("GET /metrics", s.metrics)
	s.mux.HandleFunc("GET /status", s.status)
	s.mux.HandleFunc("GET /status/upstreams", s.upstreams)
	return s
}

// Mux is the server's request multiplexer, for the Admin API to add its
// routes to. Register before Listen.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Registry is the Prometheus registry /metrics gathers besides the
// Collector's families (which it does not hold: they are written by hand).
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Collector is the engine's families behind /metrics.
func (s *Server) Collector() *Collector { return s.collector }

// Handler is the whole admin handler: the mux behind Options.Wrap and the
// peer check.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.mux
	if s.opts.Wrap != nil {
		h = s.opts.Wrap(h)
	}
	if s.opts.AllowRemote {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackPeer(r.RemoteAddr) {
			http.Error(w, "admin: loopback peers only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Listen starts serving on addr (host:port; port 0 picks a free one) on
// its own goroutines. Without AllowRemote, addr must be loopback.
func (s *Server) Listen(addr string) error {
	if !s.opts.AllowRemote && !config.IsLoopback(addr) {
		return ErrNotLoopback
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return ErrListening
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.serveLocked(l)
	return nil
}

// Serve serves on l, a listener made elsewhere (one inherited from the
// process an upgrade replaces); the loopback rule is Listen's.
func (s *Server) Serve(l net.Listener) error {
	if !s.opts.AllowRemote && !config.IsLoopback(l.Addr().String()) {
		return ErrNotLoopback
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return ErrListening
	}
	s.serveLocked(l)
	return nil
}

// ListenerFile returns a duplicate of the listening socket, for an upgrade
// to hand to the new process; the caller closes it.
func (s *Server) ListenerFile() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl, ok := s.listener.(*net.TCPListener)
	if !ok {
		return nil, ErrNotListening
	}
	return tl.File()
}

func (s *Server) serveLocked(l net.Listener) {
	s.listener = l
	s.hs = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go s.hs.Serve(l)
	s.loopMu.Lock()
	s.serving = true
	s.loopMu.Unlock()
	s.warm()
}

// Addr is the address Listen listens on, or nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Close stops the listener and closes its connections.
func (s *Server) Close() error {
	defer s.stopScrapes()
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	return hs.Close()
}

// Shutdown stops the listener and waits for requests in progress, up to
// ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.stopScrapes()
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	return hs.Shutdown(ctx)
}

// stopScrapes ends the scrape thread (a later scrape starts another) and
// the warm-ups. It waits for a scrape in progress (the listener is closed
// by then, so its write fails soon), not for a warm-up: one pending is
// dropped, one rendering finishes on the thread after Close returns.
func (s *Server) stopScrapes() {
	s.scrapeMu.Lock()
	defer s.scrapeMu.Unlock()
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	s.serving = false
	if s.scrapes != nil {
		select {
		case <-s.scrapes: // under scrapeMu no scrape waits here: a warm-up
		default:
		}
		close(s.scrapes)
		s.scrapes, s.thread = nil, nil
	}
}

func loopbackPeer(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// upstreams answers every upstream's targets with their health, load and
// counters (GET /status/upstreams; GET /upstreams is the Admin API's
// configuration of them).
func (s *Server) upstreams(w http.ResponseWriter, _ *http.Request) {
	snap := s.opts.Engine.Snapshot()
	out := make([]lb.UpstreamStatus, 0)
	for _, name := range snap.UpstreamNames() {
		out = append(out, snap.Upstream(name).LB().Status())
	}
	writeJSON(w, out)
}

// status answers the engine's counters.
func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	srv := s.opts.Engine
	st := srv.Stats()
	var persisted uint64
	var persistErr string
	if s.opts.Persisted != nil {
		v, err := s.opts.Persisted()
		persisted = v
		if err != nil {
			persistErr = err.Error()
		}
	}
	var lines, dropped uint64
	if l := s.opts.AccessLog; l != nil {
		lines, dropped = l.Lines(), l.Dropped()
	}
	out := map[string]any{
		"config_version":       srv.Snapshot().Version,
		"in_flight":            srv.InFlight(),
		"requests":             st.Requests,
		"client_conns":         st.ClientConns,
		"upstream_dials":       st.UpstreamDials,
		"upstream_reused":      st.UpstreamReused,
		"upstream_retries":     st.UpstreamRetries,
		"handoffs":             st.Handoffs,
		"responses_5xx":        st.Responses5xxSent,
		"log_lines":            lines,
		"log_lines_dropped":    dropped,
		"config_persisted":     persisted,
		"config_persist_error": persistErr,
	}
	states, idle := srv.ConnStates()
	byState := map[string]int64{"idle": idle}
	for i, name := range engine.ConnStateNames {
		byState[name] = states[i]
	}
	out["client_conns_by_state"] = byState
	if s.opts.StatusExtra != nil {
		for k, v := range s.opts.StatusExtra() {
			out[k] = v
		}
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// metrics answers a scrape in the text format (0.0.4) whatever the Accept
// header asks, gzipped when the scraper accepts it. The exposition is made
// on the scrape thread (scrapeLoop) into buffers reused from scrape to
// scrape, then sent in one write with its length.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.scrapeMu.Lock()
	defer s.scrapeMu.Unlock()
	sc := &scrape{gzip: strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"), done: make(chan []byte)}
	s.loopMu.Lock()
	scrapes, thread := s.scrapeThreadLocked()
	s.loopMu.Unlock()
	// The job is timed from here, not from when the thread picks it up:
	// an idle thread may wait for an idle core to take it off the channel.
	end := thread.Job(scrapeIdleFor, scrapeUrgentAfter)
	scrapes <- sc // Close waits for scrapeMu to close the channel: open until we are done
	body := <-sc.done
	end()
	defer func() { sc.done <- nil }() // body written: the thread may render again (a warm-up)
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	if sc.gzip {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// scrape is one /metrics request handed to the scrape thread; done gets
// the body, valid until the handler sends on done in return (the thread
// renders nothing meanwhile). A scrape without done is a warm-up: rendered
// and thrown away.
type scrape struct {
	gzip bool
	done chan []byte
}

// scrapeThreadLocked returns the scrape thread's channel and the thread,
// starting it if none runs. Called with loopMu held.
func (s *Server) scrapeThreadLocked() (chan<- *scrape, *lowprio.Thread) {
	if s.scrapes == nil {
		// Room for one: a warm-up is queued without waiting for the
		// thread, and a scrape behind it waits its turn.
		s.scrapes = make(chan *scrape, 1)
		prev := s.loopDone
		s.loopDone = make(chan struct{})
		threads := make(chan *lowprio.Thread)
		go s.scrapeLoop(s.scrapes, threads, prev, s.loopDone)
		s.thread = <-threads // sent before the thread is lowered
	}
	return s.scrapes, s.thread
}

// warm has the scrape thread render once, gzipped, into the buffers
// scrapes reuse, and throw the result away: the first scrape of a config
// then finds the metric set's sums, the series prefixes' index, the gzip
// writer and client_golang's collectors grown and set up (for 10,000
// routes, about 12 MB allocated and 60 ms that would otherwise be the
// first scrape's, on top of its own work). Called when the listener starts
// and after an accepted reload, at most once per reloadWarmEvery (a
// reload may add routes, which grows the vectors). It never waits: the render runs on the scrape thread, niced,
// queued behind a scrape in progress; when a render is already queued it
// does nothing, as that one warms as well. Not before Listen or Serve nor
// after Close or Shutdown.
//
// The cost, paid even if nobody ever scrapes: the scrape thread from the
// start, and the buffers held from the start (for 10,000 routes about 8
// MB: the sums and the prefix index, 3.4 MB each, and the gzip writer).
func (s *Server) warm() {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	if !s.serving {
		return
	}
	scrapes, _ := s.scrapeThreadLocked()
	select {
	case scrapes <- &scrape{gzip: true}:
	default:
	}
}

// scrapeIdleFor is how long a scrape runs in the event loops' idle time
// before it takes a nice-10 share of a busy core (lowprio.Thread.Job). It
// is longer than a scrape of 10,000 routes takes with the loop's core 45 %
// busy (8 to 27 ms): with 10 ms, scrapes were raised midway and the p99
// beside them moved again (×1.22 at the median). The price is on a
// saturated gateway, where nothing is idle: there a scrape waits its
// 20 ms, has a tenth of the core until scrapeUrgentAfter, then half.
// Scrapes there took a median 41–48 ms and at most 68 ms (bar 100 ms;
// docs/benchmarks.md).
const scrapeIdleFor = 20 * time.Millisecond

// scrapeUrgentAfter is when a scrape still running takes the loops' own
// priority: at nice 10 beside a saturated loop it has a tenth of the core
// (a scrape is 3 to 5 ms of CPU); from here on it has half.
const scrapeUrgentAfter = 50 * time.Millisecond

// scrapeLoop makes the expositions, one at a time, on an OS thread of its
// own lowered (package lowprio), from the warm-up at Listen or the first scrape until
// Close or Shutdown; a thread started after Close first waits for the one
// before it (finishing a warm-up) to end, so that one renders at a time.
// With a large config a scrape is milliseconds of CPU; run
// at the event loops' priority on a machine whose cores all run loops, it
// took that time from requests, whose p99 moved. At nice 10 it still did:
// a loop waking while the thread ran waited for the end of its slice. In
// idle time first (lowprio.Thread.Lower), a waking loop takes the core
// back at once; past scrapeIdleFor the scrape goes on at nice 10, and
// past scrapeUrgentAfter at the loops' own nice, so a saturated gateway
// still answers it in time. The job is started by the handler (metrics),
// so it is timed from the request: timed from when the idle thread took
// it off its channel, it was not, and at saturation the thread waited for
// a core before its first deadline began (scrapes of up to 330 ms). The
// garbage collector's assists for the scrape's allocations run here too.
// (client_golang's Gather runs the collectors' Collect on goroutines of
// its own, which are not niced: the engine collector's part there is the
// sums of the workers' blocks.)
func (s *Server) scrapeLoop(scrapes <-chan *scrape, threads chan<- *lowprio.Thread, prev <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	thread := lowprio.NewThread()
	threads <- thread // at the starter's priority: lowered, the send could wait for an idle core
	if prev != nil {
		<-prev
	}
	thread.Lower()
	for sc := range scrapes {
		body := s.render(sc.gzip) // in the job metrics started for it; a warm-up in idle time only
		if sc.done == nil {
			s.warmups.Add(1)
			continue
		}
		sc.done <- body
		<-sc.done
	}
}

// render makes the exposition: the Collector's families, written by hand,
// then what the registry gathers (the runtime's go_* and process_*, and
// collectors registered by the gateway's other parts), encoded by
// client_golang.
func (s *Server) render(gz bool) []byte {
	s.text.b = s.collector.appendText(s.text.b[:0], &s.marks)
	fams, gatherErr := s.registry.Gather()
	enc := expfmt.NewEncoder(&s.text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		_ = enc.Encode(f) // appending to memory does not fail
	}
	if gatherErr != nil {
		// What could be gathered is served; say what could not, as a
		// comment the parsers skip.
		s.text.b = append(s.text.b, "# gather error: "+strings.ReplaceAll(gatherErr.Error(), "\n", " ")+"\n"...)
	}
	if !gz {
		return s.text.b
	}
	// klauspost's deflate, not compress/flate: at BestSpeed it compresses
	// the 10,000-route exposition about 1.5 ms faster (BenchmarkScrapeGzip
	// 8.5-9.5 -> 6.9-7.8 ms) and 1.4 % smaller; the module was in go.mod
	// already (fasthttp's, which the tests compare against). Compression
	// was still about half of a gzipped scrape's CPU, so segments whose
	// text did not change since the last gzipped render are not
	// compressed again (segmentedGzip). The text goes to s.gz, which hands
	// back the buffer the next render writes into.
	var body []byte
	body, s.text.b = s.gz.compress(s.text.b, s.marks)
	return body
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// ReloadDone records the outcome of a config reload (err nil: accepted)
// for /metrics, and after an accepted one warms the scrape up for the new
// config (warm); it does not wait for that. A nil Server ignores it. Safe
// for concurrent use.
func (s *Server) ReloadDone(err error) {
	if s == nil {
		return
	}
	now := time.Now()
	s.collector.reloads.record(err, now)
	if err == nil && now.UnixNano()-s.lastReloadWarm.Load() >= int64(s.reloadWarmEvery) {
		s.lastReloadWarm.Store(now.UnixNano())
		s.warm()
	}
}

// reloadWarmEvery bounds the warm-ups after reloads: every Admin API change
// is an accepted reload, and a render of 10,000 routes is 7 to 15 ms of
// CPU, so twenty changes a second warming each would keep the scrape
// thread rendering all the time, on the cores the event loops use. One
// warm-up per interval still grows the buffers for a config that grew; a
// scrape in between grows what is left itself.
const reloadWarmEvery = 30 * time.Second
