// Command demo-upstream is the quick start's upstream: it answers every
// request with the request itself as JSON (method, path, query, headers,
// body size), so that `curl` through the gateway shows what was proxied.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

type echo struct {
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     string              `json:"query,omitempty"`
	Host      string              `json:"host"`
	Proto     string              `json:"proto"`
	Headers   map[string][]string `json:"headers"`
	BodyBytes int64               `json:"body_bytes"`
	Upstream  string              `json:"upstream"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			e := echo{
				Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host,
				Proto: r.Proto, Headers: r.Header, BodyBytes: n, Upstream: *listen,
			}
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(e)
		}),
	}
	log.SetOutput(os.Stderr)
	log.Printf("demo-upstream: listening on %s", *listen)
	log.Fatal(srv.ListenAndServe())
}
