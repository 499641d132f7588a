package freeport

import (
	"net"
	"strings"
	"testing"
)

// TestPortsAreNeverHandedOutTwice asks the real kernel for many ports in
// a row without binding any, the pattern that made two of a gateway's
// addresses the same; each must differ from the others and be bindable.
func TestPortsAreNeverHandedOutTwice(t *testing.T) {
	seen := make(map[string]bool)
	for range 500 {
		addr := Addr(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
	}
	for addr := range seen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("a port handed out cannot be bound: %v", err)
		}
		l.Close()
	}
}

// fakeKernel stands in for the kernel with a fixed sequence of answers,
// for as long as the test runs.
func fakeKernel(t *testing.T, ports ...int) {
	mu.Lock()
	savedAsk, savedGiven := ask, given
	given = make(map[int]bool)
	ask = func() (int, error) {
		p := ports[0]
		if len(ports) > 1 {
			ports = ports[1:]
		}
		return p, nil
	}
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		ask, given = savedAsk, savedGiven
		mu.Unlock()
	})
}

// TestAPortTheKernelRepeatsIsSkipped: the kernel answering twice with
// the same port, the CI failure's case, gives two different ports.
func TestAPortTheKernelRepeatsIsSkipped(t *testing.T) {
	fakeKernel(t, 34139, 34139, 34139, 40001)
	a, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	if a != 34139 || b != 40001 {
		t.Fatalf("ports %d and %d, want 34139 and 40001", a, b)
	}
}

// TestAKernelThatOnlyRepeatsIsAnError: asks are bounded, and running
// out says why instead of looping or handing out a port twice.
func TestAKernelThatOnlyRepeatsIsAnError(t *testing.T) {
	fakeKernel(t, 34139)
	if _, err := Port(); err != nil {
		t.Fatal(err)
	}
	_, err := Port()
	if err == nil || !strings.Contains(err.Error(), "100 asks for a port gave only ports this process had had (1 of them)") {
		t.Fatalf("err = %v", err)
	}
}
