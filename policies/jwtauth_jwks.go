package policies

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// jwksSource is one JWKS URL of a jwt-auth policy: its keys by kid, read
// on the loops without a lock, fetched off the loops — by a refresher
// goroutine every refresh interval, and on demand (a token naming an
// unknown kid, through Ctx.Offload) at most once per minRefresh. A URL is
// only ever the config's: a token's jku or x5u is never fetched.
type jwksSource struct {
	url        string
	refreshDur time.Duration
	minRefresh time.Duration
	keys       atomic.Pointer[map[string]jwk]
	last       atomic.Int64 // unix nanos of the last fetch attempt; 0: none
	fetching   atomic.Bool  // a fetch is under way: waiting for it is free

	mu       sync.Mutex
	inflight chan struct{} // closed when the fetch under way ends
	stop     chan struct{}
	stopOnce sync.Once
}

type jwk struct {
	key crypto.PublicKey
	alg string // the key's "alg"; "" when it has none
}

// maxJWKSBytes caps a JWKS document.
const maxJWKSBytes = 1 << 20

// maxJWKSRSABits caps the RSA keys taken from a JWKS, as crypto/tls caps
// a peer's: a verification runs on the event loop, and its cost grows with
// the square of the modulus size (8 to 19ms at 16384 bits, 0.6 to 1.3s
// at 98304, by the exponent), which the set's server, not the config,
// chose.
const maxJWKSRSABits = 8192

func newJWKSSource(url string, refresh, minRefresh time.Duration, client *http.Client) *jwksSource {
	s := &jwksSource{url: url, refreshDur: refresh, minRefresh: minRefresh, stop: make(chan struct{})}
	go s.refresher(client)
	return s
}

func (s *jwksSource) refresher(client *http.Client) {
	t := time.NewTicker(s.refreshDur)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	s.refresh(ctx, client)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.refresh(ctx, client)
		}
	}
}

func (s *jwksSource) close() { s.stopOnce.Do(func() { close(s.stop) }) }

// lookup returns the key of kid. Safe on the loop: no lock, no I/O.
func (s *jwksSource) lookup(kid string) (jwk, bool) {
	m := s.keys.Load()
	if m == nil {
		return jwk{}, false
	}
	k, ok := (*m)[kid]
	return k, ok
}

// mayRefresh says whether waiting for a fetch is allowed now: one is under
// way, none was made yet, or the last one is older than minRefresh (the
// floor that keeps tokens with made-up kids from hammering the server).
func (s *jwksSource) mayRefresh() bool {
	last := s.last.Load()
	return s.fetching.Load() || last == 0 || time.Since(time.Unix(0, last)) >= s.minRefresh
}

// refresh fetches the set once, or waits for the fetch under way; it ends
// when ctx does. It runs off the loops.
func (s *jwksSource) refresh(ctx context.Context, client *http.Client) {
	s.mu.Lock()
	ch := s.inflight
	if ch == nil {
		ch = make(chan struct{})
		s.inflight = ch
		s.last.Store(time.Now().UnixNano())
		s.fetching.Store(true)
		go func() {
			defer func() {
				s.mu.Lock()
				s.inflight = nil
				s.fetching.Store(false)
				s.mu.Unlock()
				close(ch)
			}()
			fctx, cancel := context.WithTimeout(context.Background(), client.Timeout)
			defer cancel()
			if keys, err := fetchJWKS(fctx, client, s.url); err == nil {
				s.keys.Store(&keys)
			} // on an error the keys known stay (last known good)
		}()
	}
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func fetchJWKS(ctx context.Context, client *http.Client, url string) (map[string]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("jwks: document too large")
	}
	return parseJWKS(body)
}

// parseJWKS reads the signature keys of a JWKS with a kid; keys it cannot
// use (encryption keys, private parts, unknown types, points off their
// curve, RSA moduli past maxJWKSRSABits) are skipped.
func parseJWKS(body []byte) (map[string]jwk, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			Crv string `json:"crv"`
			N   string `json:"n"`
			E   string `json:"e"`
			X   string `json:"x"`
			Y   string `json:"y"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	keys := make(map[string]jwk, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") || k.D != "" {
			continue
		}
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, e := b64Int(k.N), b64Int(k.E)
			if n == nil || n.BitLen() > maxJWKSRSABits || e == nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
				continue
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			pub = ecKey(k.Crv, k.X, k.Y)
		case "OKP":
			if x, err := base64.RawURLEncoding.DecodeString(k.X); err == nil && k.Crv == "Ed25519" && len(x) == ed25519.PublicKeySize {
				pub = ed25519.PublicKey(x)
			}
		}
		if pub != nil {
			keys[k.Kid] = jwk{key: pub, alg: k.Alg}
		}
	}
	return keys, nil
}

func b64Int(s string) *big.Int {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(b)
}

// ecKey builds an ECDSA key, refusing points not on the curve (the
// invalid-curve attack) through crypto/ecdh's checks.
func ecKey(crv, xs, ys string) crypto.PublicKey {
	var curve elliptic.Curve
	var ec ecdh.Curve
	switch crv {
	case "P-256":
		curve, ec = elliptic.P256(), ecdh.P256()
	case "P-384":
		curve, ec = elliptic.P384(), ecdh.P384()
	case "P-521":
		curve, ec = elliptic.P521(), ecdh.P521()
	default:
		return nil
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err1 := base64.RawURLEncoding.DecodeString(xs)
	y, err2 := base64.RawURLEncoding.DecodeString(ys)
	if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
		return nil
	}
	point := append(append([]byte{4}, x...), y...)
	if _, err := ec.NewPublicKey(point); err != nil {
		return nil
	}
	return &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
}
