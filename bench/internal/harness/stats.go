package harness

import "sort"

// Median returns the median of xs (mean of the middle two for an even
// count), 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// PeerResult is one peer's runs in one cell and their medians.
type PeerResult struct {
	Peer string `json:"peer"`
	Runs []Run  `json:"runs"`

	RPS             float64 `json:"rps"`
	P50Micros       float64 `json:"p50_us"`
	P99Micros       float64 `json:"p99_us"`
	P999Micros      float64 `json:"p999_us"`
	UserPerReq      float64 `json:"user_us_req"`
	SysPerReq       float64 `json:"sys_us_req"`
	CPUPerReq       float64 `json:"cpu_us_req"`
	ProxyCPUPercent float64 `json:"proxy_cpu_pct"`
	ProxyCoreBusy   float64 `json:"proxy_core_busy"`
	LoadCoreBusy    float64 `json:"load_core_busy"`
	RSSBytes        float64 `json:"rss_bytes"`
	AllocsPerReq    float64 `json:"allocs_req"` // -1: not measurable for this peer
	RedisPerReq     float64 `json:"redis_us_req,omitempty"`
	// UpstreamPerReq is upstream requests per client request (medians).
	UpstreamPerReq float64 `json:"upstream_req_per_req"`

	Requests       int64   `json:"requests"`        // over every run
	Errors         int64   `json:"errors"`          // over every run
	UpstreamOpened int64   `json:"upstream_opened"` // over every run
	ReusePercent   float64 `json:"reuse_pct"`       // 100 * (1 - opened/requests)
}

// Aggregate fills the medians and totals from p.Runs.
func (p *PeerResult) Aggregate() {
	col := func(f func(Run) float64) float64 {
		xs := make([]float64, 0, len(p.Runs))
		for _, r := range p.Runs {
			xs = append(xs, f(r))
		}
		return Median(xs)
	}
	p.RPS = col(func(r Run) float64 { return r.RPS })
	p.P50Micros = col(func(r Run) float64 { return float64(r.P50Micros) })
	p.P99Micros = col(func(r Run) float64 { return float64(r.P99Micros) })
	p.P999Micros = col(func(r Run) float64 { return float64(r.P999Micros) })
	p.UserPerReq = col(func(r Run) float64 { return r.UserPerReq })
	p.SysPerReq = col(func(r Run) float64 { return r.SysPerReq })
	p.CPUPerReq = col(func(r Run) float64 { return r.CPUPerReq })
	p.ProxyCPUPercent = col(func(r Run) float64 { return r.ProxyCPUPercent })
	p.ProxyCoreBusy = col(func(r Run) float64 { return r.ProxyCoreBusy })
	p.LoadCoreBusy = col(func(r Run) float64 { return r.LoadCoreBusy })
	p.RSSBytes = col(func(r Run) float64 { return float64(r.RSSBytes) })
	p.RedisPerReq = col(func(r Run) float64 { return r.RedisPerReq })
	p.UpstreamPerReq = col(func(r Run) float64 {
		if r.Requests == 0 {
			return 0
		}
		return float64(r.UpstreamRequests) / float64(r.Requests)
	})
	p.AllocsPerReq = -1
	var allocs []float64
	p.Requests, p.Errors, p.UpstreamOpened = 0, 0, 0
	for _, r := range p.Runs {
		p.Requests += r.Requests
		p.Errors += r.Errors
		p.UpstreamOpened += r.UpstreamOpened
		if r.AllocsPerReq >= 0 {
			allocs = append(allocs, r.AllocsPerReq)
		}
	}
	if len(allocs) > 0 {
		p.AllocsPerReq = Median(allocs)
	}
	if p.Requests > 0 {
		p.ReusePercent = 100 * (1 - float64(p.UpstreamOpened)/float64(p.Requests))
	}
}
