package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// checkClient never reuses connections, so each probe is one accept at the
// upstream (see UpstreamAccepts) and no probe keeps a proxy connection open.
var checkClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

func httpGet(url string, header map[string]string) ([]byte, http.Header, error) {
	status, h, body, err := httpDo(url, header)
	if err != nil {
		return nil, nil, err
	}
	if status != http.StatusOK {
		return body, h, fmt.Errorf("GET %s: status %d", url, status)
	}
	return body, h, nil
}

// httpDo sends one GET and returns whatever status came back; err is a
// transport failure only.
func httpDo(url string, header map[string]string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := checkClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, body, nil
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func waitReady(ctx context.Context, p *Proc, url string, header map[string]string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if exited, err := p.Exited(); exited {
			return err
		}
		if _, _, err := httpGet(url, header); err == nil {
			return nil
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w after %s: %v", ErrNotReady, timeout, lastErr)
}

// StubStatus is the counters line of nginx's stub_status page.
type StubStatus struct {
	Accepts  int64 // connections accepted
	Requests int64 // requests served, the status request being read included
}

// ParseStubStatusAccepts reads "accepts" from nginx's stub_status page.
func ParseStubStatusAccepts(body []byte) (int64, error) {
	st, err := ParseStubStatus(body)
	return st.Accepts, err
}

// ParseStubStatus reads the counters of nginx's stub_status page:
//
//	Active connections: 1
//	server accepts handled requests
//	 10 10 20
//	Reading: 0 Writing: 1 Waiting: 0
func ParseStubStatus(body []byte) (StubStatus, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "server accepts") && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 {
				acc, err1 := strconv.ParseInt(f[0], 10, 64)
				req, err2 := strconv.ParseInt(f[2], 10, 64)
				if err1 == nil && err2 == nil {
					return StubStatus{Accepts: acc, Requests: req}, nil
				}
			}
		}
	}
	return StubStatus{}, fmt.Errorf("stub_status: no counters line in %q", body)
}
