package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// The client side of the Admin API: "sluice apply -f new.yaml" replaces
// the running configuration of a gateway, "sluice diff -f new.yaml" says
// what that would change (Kong's deck sync and deck diff). Both validate
// on the gateway, which answers with the errors a file check gives.

// adminClient is the flags the client commands share.
type adminClient struct {
	addr, file, tokenFile string
}

func (c *adminClient) register(fs *flag.FlagSet) {
	def := os.Getenv("SLUICE_ADMIN_ADDR")
	if def == "" {
		def = "127.0.0.1:9901"
	}
	fs.StringVar(&c.addr, "admin", def, "the gateway's admin listener, host:port or URL ($SLUICE_ADMIN_ADDR)")
	fs.StringVar(&c.file, "f", "", "the new configuration file (YAML or JSON; required)")
	fs.StringVar(&c.tokenFile, "token-file", "", "a file holding the admin bearer token (default $"+tokenEnv+")")
}

// call sends the file to path and decodes the JSON answer into out. It
// returns the HTTP status, or an error that is the whole message to print.
func (c *adminClient) call(method, path string, out any) (int, error) {
	if c.file == "" {
		return 0, fmt.Errorf("-f FILE is required")
	}
	body, err := os.ReadFile(c.file)
	if err != nil {
		return 0, err
	}
	base := c.addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequest(method, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/yaml")
	token := os.Getenv(tokenEnv)
	if c.tokenFile != "" {
		data, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return 0, err
		}
		token = strings.TrimRight(string(data), "\r\n")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("the gateway's admin listener: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, refusal(c.file, resp.StatusCode, data)
	}
	return resp.StatusCode, json.Unmarshal(data, out)
}

// refusal formats an error answer like a file check: one line per
// problem, "file:line: path: message".
func refusal(file string, status int, data []byte) error {
	var e struct {
		Error  string `json:"error"`
		Errors []struct {
			Path    string `json:"path"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		return fmt.Errorf("the gateway answered %d: %s", status, bytes.TrimSpace(data))
	}
	if len(e.Errors) == 0 {
		return fmt.Errorf("%s", e.Error)
	}
	var b strings.Builder
	b.WriteString(file + ": invalid:")
	for _, fe := range e.Errors {
		b.WriteString("\n" + file + ":")
		if fe.Line > 0 {
			fmt.Fprintf(&b, "%d:", fe.Line)
		}
		b.WriteString(" ")
		if fe.Path != "" {
			b.WriteString(fe.Path + ": ")
		}
		b.WriteString(fe.Message)
	}
	return fmt.Errorf("%s", b.String())
}

func cmdApply(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c adminClient
	c.register(fs)
	dry := fs.Bool("dry-run", false, "validate on the gateway, change nothing")
	consulAddr := fs.String("consul", "", "write the file into a fleet's Consul KV (host:port of an agent) instead of a gateway's Admin API")
	prefix := fs.String("prefix", "sluice/fleet", "with -consul: the fleet's KV prefix (config_source.prefix)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !refuseLeftover("apply", fs, 0, "apply takes no arguments, the file is -f FILE", stderr) {
		return 2
	}
	if *consulAddr != "" {
		return applyToConsul(c.file, *consulAddr, strings.Trim(*prefix, "/"), *dry, stdout, stderr)
	}
	path := "/config"
	method := http.MethodPut
	if *dry {
		path, method = "/config/validate", http.MethodPost
	}
	var res struct {
		Version         uint64   `json:"version"`
		RestartRequired []string `json:"restart_required"`
	}
	if _, err := c.call(method, path, &res); err != nil {
		fmt.Fprintf(stderr, "sluice apply: %v\n", err)
		return 1
	}
	if *dry {
		fmt.Fprintf(stdout, "%s: valid (running version %d unchanged)\n", c.file, res.Version)
	} else {
		fmt.Fprintf(stdout, "%s: applied, version %d in force\n", c.file, res.Version)
	}
	if len(res.RestartRequired) > 0 {
		fmt.Fprintf(stdout, "takes effect at the next start: %s\n", strings.Join(res.RestartRequired, ", "))
	}
	return 0
}

func cmdDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c adminClient
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !refuseLeftover("diff", fs, 0, "diff takes no arguments, the file is -f FILE", stderr) {
		return 2
	}
	var res struct {
		Version uint64 `json:"version"`
		Changes []struct {
			Op, Resource, Name string
			Fields             []string
		} `json:"changes"`
	}
	if _, err := c.call(http.MethodPost, "/config/diff", &res); err != nil {
		fmt.Fprintf(stderr, "sluice diff: %v\n", err)
		return 1
	}
	if len(res.Changes) == 0 {
		fmt.Fprintf(stdout, "no changes against version %d\n", res.Version)
		return 0
	}
	fmt.Fprintf(stdout, "against version %d:\n", res.Version)
	for _, ch := range res.Changes {
		sign := map[string]string{"add": "+", "remove": "-", "change": "~"}[ch.Op]
		what := ch.Resource
		if ch.Name != "" {
			what += "/" + ch.Name
		}
		if len(ch.Fields) > 0 {
			what += " (" + strings.Join(ch.Fields, ", ") + ")"
		}
		fmt.Fprintf(stdout, "%s %s\n", sign, what)
	}
	return 0
}
