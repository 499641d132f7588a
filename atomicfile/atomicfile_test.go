package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWithPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, 0o600, []byte("new "), []byte("content")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(got) != "new content" || st.Mode().Perm() != 0o600 {
		t.Fatalf("%q %v", got, st.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

// A write that cannot complete leaves the file and the directory as they
// were.
func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub") // a directory: the rename over it fails
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(path, "x"), []byte("x"), 0o644)
	if err := Write(path, 0o600, []byte("data")); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || !entries[0].IsDir() {
		t.Fatalf("after the failure: %v", entries)
	}
	if err := Write(filepath.Join(dir, "nope", "f"), 0o600, []byte("x")); err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
}

// A fill that fails leaves the file as it was and no temporary file; one
// larger than the buffer arrives whole.
func TestWriteWith(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("encoding failed")
	err := WriteWith(path, 0o600, func(w io.Writer) error {
		w.Write(make([]byte, 3*bufSize)) // flushed to the temporary file already
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("err = %v, want the fill's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("the file changed: %d bytes", len(b))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files in the directory, want the file alone", len(ents))
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), bufSize/4+3)
	if err := WriteWith(path, 0o600, func(w io.Writer) error {
		for i := 0; i < len(big); i += 1000 {
			w.Write(big[i:min(i+1000, len(big))])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, big) {
		t.Fatalf("wrote %d bytes, want %d", len(b), len(big))
	}
}
