// Package atomicfile replaces a file's content so that a reader, or the
// file after a crash, has the old content or the new one, never a part:
// the data goes to a temporary file in the same directory, which is
// synced, then renamed over the file, and the directory is synced so the
// rename itself is durable. The gateway's config write-back (package
// live), discovery's dumps and the fleet's dump use it.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with the chunks, one after the other, with the
// permissions perm. On error path is unchanged and no temporary file is
// left behind.
func Write(path string, perm os.FileMode, chunks ...[]byte) error {
	return WriteWith(path, perm, func(w io.Writer) error {
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteWith is Write of what fill writes to w, through a buffer of
// bufSize: content made of many small pieces (10,000 routes' YAML) goes
// to the file without being gathered in memory first, in writes of
// bufSize. An error of fill leaves path unchanged.
func WriteWith(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, bufSize)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the rename itself durable
		d.Close()
	}
	return nil
}

// bufSize is the size of WriteWith's writes.
const bufSize = 64 << 10
